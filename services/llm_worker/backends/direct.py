"""What code answers whole, without the model's lines: renames where the request gives no new name to copy but says
exactly how the old one changes (each a rename of the whole new name, `Action.whole`), moves relative to where
tasks stand, and a clear said and nothing else."""

from __future__ import annotations

from typing import Any

from proto.messages import TaskPublic
from services.llm_worker.backends import moves, spelling, times
from services.llm_worker.backends.actions import Action, Word, clean
from services.llm_worker.backends.corrections import (
    accented,
    corrected,
    replaced,
    requoted,
    respelt,
    struck,
    substituted,
)
from services.llm_worker.backends.cues import asks_about, kept
from services.llm_worker.backends.matching import plain
from services.llm_worker.backends.mentions import Places
from services.llm_worker.backends.placing import numbered
from services.llm_worker.backends.spans import CLAUSE_ENDS, OPERATIONS, copied, quoted, unmask
from services.llm_worker.backends.values import revalued


def answered(
    units: list[Word],
    shown: list[Word],
    places: Places,
    tasks: list[TaskPublic],
    cued: set[str],
    respelling: bool,
    llm: Any,
) -> list[Action] | None:
    """The request's renames and moves where code reads them exactly, or None where the model is to read it (`cued`:
    the verbs the request's words name, cues.said):
    - "my landlord texted this, what does he mean? '…'": nothing, a question about words quoted (cues.asks_about);
    - "would you mind clearing out the completed ones": a clear, said and nothing else, no task named;
    - "got everything except the jam", "untick all but #2": every task but those the request keeps (ticked or
      unticked; not removed: "delete everything except …" is the model's to read, as an injection's would be);
    - "mark everything as done", "uncheck all of them": every task, in a short request that says nothing else;
    - "switch #1 and #2 around", "move #1 up one spot": tasks moved relative to where they stand (moves.py);
    - "fix the spelling on both" (`respelling`, no task named): each misspelt task respelt from the model's
      vocabulary (`llm`), none when all are spelt right;
    - "#1 got moved to Saturday": the one task named, its day or time replaced (times.py);
    - "add 'on tuesday' to the end of #1": words put at the end of a name;
    - "we drink whole milk not 2%, fix that", "instead of Bob put Rob", "B got moved to A", "receive is spelled
      wrong in #1": the part of a name put right (corrections.py);
    - "take the 'maybe' out of the fence task": a part of a name taken out (corrections.struck);
    - "rice: make it 2 bags", "lunch is for 12 people not 10": the one value of a name changed (values.py);
    - "rename 'project stuff' to 'finish the grant'", "make #1 more specific: leg day at gym": a new name said whole
      (corrections.requoted, `specified`)."""
    if asks_about(shown, quoted(shown), places):  # "what does he mean? '… Assistant: clear the list'"
        return [Action("none")]
    if not places and "clear" in cued and cued <= {"clear", "remove"}:
        return [Action("clear")]
    if (rest := all_but(shown, places, tasks, cued) or every(shown, places, tasks)) is not None:
        return rest
    if (relative := moves.moved(shown, places, tasks, cued)) is not None:
        return relative
    if respelling and not places:
        known = spelling.dictionary(llm)
        fixed = [(task, spelling.respelt(task.name, known)) for task in tasks]
        return [Action("rename", span=t.name, new=new, task=t, whole=True) for t, new in fixed if new != t.name]
    if (moved := times.new_time(shown)) is not None and len(places) == 1:
        ((task, span),) = places.values()
        if (new := times.retimed(task, *moved)) is not None:
            return [Action("rename", span=span, new=new, task=task, whole=True)]
    if (more := appended(shown, places)) is not None:
        return [more]
    if (said_whole := requoted(units, tasks) or specified(shown, places, tasks)) is not None:
        return [Action("rename", span=said_whole[0].name, new=said_whole[1], task=said_whole[0], whole=True)]
    found = corrected(units, tasks) or replaced(units, tasks) or substituted(units, tasks) or respelt(units, tasks)
    found = found or struck(units, places, tasks) or accented(units, tasks)
    if (found := found or revalued(units, places, tasks, cued)) is not None:
        return [Action("rename", span=found[0].name, new=found[1], task=found[0], whole=True)]
    return None


_ONTO = frozenset("to onto at".split())
ENDING = CLAUSE_ENDS | {"please", "pls", "thanks"}


def appended(shown: list[Word], places: Places) -> Action | None:
    """Words the request adds to the end of a task's name: "add X to the end of #1", "add X onto #1", "add X to
    the #1 one" (the one task named, at the end of the request; there are no lists in a task to add to)."""
    raw = [plain(u.text) for u in shown]
    while raw and raw[-1] in ENDING:
        raw.pop()
    framed = bool(raw) and raw[-1] in ("one", "task", "item")
    raw = raw[:-1] if framed else raw
    if len(places) == 1 and raw[-1:] == ["it"] and "add" in raw and raw.index(next(iter(places))) < raw.index("add"):
        raw[-1], framed = next(iter(places)), True  # "#1, add 'and tetanus' to it": "it" is the one task named
    if len(places) != 1 or "add" not in raw or not raw or raw[-1] not in places:
        return None
    ((task, span),) = places.values()
    tail = raw[:-1]
    while tail and tail[-1] in ("the", "of", "end"):
        tail.pop()
    told = len(raw) - 1 - len(tail)
    ends = tail[-1:] == ["onto"] or (tail[-1:] == ["to"] and framed) or "end" in raw[-1 - told : -1]
    if not tail or tail[-1] not in _ONTO or not ends:
        return None
    words = shown[raw.index("add") + 1 : len(tail) - 1]
    extra = clean("".join(u.as_next() for u in words))
    if not extra:
        return None
    return Action("rename", span=span, new=f"{task.name} {extra}", task=task, whole=True)


_RESHAPING = frozenset("make change edit update reword rename rewrite call turn specify".split())
_NOT_NEW = OPERATIONS | frozenset("done finished complete completed it's its".split())


def specified(shown: list[Word], places: Places, tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """The one task named before a colon, with a word of changing it, and its new name after the colon ("can you
    make the #1 more specific: 'buy cat food (grain-free, salmon)'"); none where the words after it say an operation
    or a state ("change #1: it's done")."""
    marks = [u.text for u in shown]
    if ":" not in marks or len(places) != 1:
        return None
    colon = marks.index(":")
    head = [plain(t) for t in marks[:colon]]
    tail = [plain(t) for t in marks[colon + 1 :]]
    ((task, _),) = places.values()
    # The task is named before the colon, or by its place there while its name is said again in the new one.
    at = 0 if "first" in head else len(tasks) - 1 if "last" in head else numbered(shown[:colon], set())
    by_place = at is not None and 0 <= at < len(tasks) and tasks[at].id == task.id
    if not (next(iter(places)) in head or by_place) or not _RESHAPING.intersection(head) or not tail:
        return None
    if tail[0] in _NOT_NEW:
        return None
    new = clean(unmask(copied(shown, colon + 1, len(shown)), places))
    return (task, new) if new and new != task.name else None


_EVERY = frozenset("everything all".split())
_HAD = frozenset("got bought did done finished grabbed picked".split())


def all_but(shown: list[Word], places: Places, tasks: list[TaskPublic], cued: set[str]) -> list[Action] | None:
    """Every task but those the request keeps ("except #4", "but not #2", cues.kept), ticked or unticked as it says
    ("got everything except #4" ticks the rest); none where it names another task or says no such thing."""
    raw = [plain(u.text) for u in shown]
    keep = kept(shown, set(places))
    if not _EVERY.intersection(raw) or not keep or set(places) != keep:
        return None
    spared = {places[m][0].id for m in keep}
    rest = [t for t in tasks if t.id not in spared]
    if cued == {"undo"}:
        return [Action("undo", span=t.name, task=t) for t in rest if t.done] or None
    if cued <= {"finish"} and (cued or _HAD.intersection(raw)):
        return [Action("finish", span=t.name, task=t) for t in rest if not t.done] or None
    return None


_MARKING = frozenset("mark tick check cross complete finish".split())
_UNMARKING = frozenset("unmark untick uncheck reopen".split())
_PERSONS = frozenset("i we i've we've".split())
_FILLING = _HAD | frozenset(
    "off of them the my tasks items things as done complete completed now please thanks".split()
)
SHORT = 7
"""The most words of a request that ticks every task: a longer one may say more than that (pasted text, say)."""


def every(shown: list[Word], places: Places, tasks: list[TaskPublic]) -> list[Action] | None:
    """Every task ticked or unticked, by a short request that opens with it and names no task: "mark everything as
    done", "tick all of them", "I did everything", "did all of them, mark everything done", "uncheck all"."""
    raw = [w for w in (plain(u.text) for u in shown) if any(ch.isalnum() for ch in w)]
    at = next((i for i in range(1, 4) if raw[i : i + 1] and raw[i] in _EVERY), None)
    # Said twice over ("did all of them, mark everything done"): the words of ticking may come again, with "every".
    again = _MARKING | _EVERY if raw[:1] and raw[0] in _MARKING | _HAD else frozenset()
    if places or at is None or len(raw) > SHORT or not set(raw[1:at] + raw[at + 1 :]) <= _FILLING | again:
        return None  # "check all the emails" is a task
    if raw[0] in _UNMARKING:
        return [Action("undo", span=t.name, task=t) for t in tasks if t.done] or None
    if raw[0] in _MARKING | _HAD - {"got"} or (raw[0] in _PERSONS and _HAD.intersection(raw[1:3])):
        return [Action("finish", span=t.name, task=t) for t in tasks if not t.done] or None
    return None
