"""Moves code reads exactly, without the model's lines: two tasks swapped ("switch #1 and #2 around", "flip the
first two") and a task moved by a number of places ("move #1 up one spot", "bump it down two places"). The model
knows only the ends of the list and places by number; these say a place relative to where tasks stand now."""

from __future__ import annotations

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Action, Word
from services.llm_worker.backends.cues import NOT
from services.llm_worker.backends.matching import PLACEHOLDER, plain, stem
from services.llm_worker.backends.mentions import Places

SWAPPING = frozenset(stem(w) for w in "swap switch flip trade exchange".split())
STEPS = {"up": -1, "higher": -1, "down": 1, "lower": 1}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
UNITS = frozenset(stem(w) for w in "spot place position slot notch step level rung line".split())
_ENDS = {"first": "top", "top": "top", "last": "bottom", "bottom": "bottom"}
_PAIR = frozenset({"two", "2"})
_CLOSING = frozenset(",.;!? and then please pls thanks".split())
MOVING = frozenset({"top", "bottom"})


def moved(shown: list[Word], places: Places, tasks: list[TaskPublic], cued: set[str]) -> list[Action] | None:
    """The moves of a swap or of a step, or None where the request says neither (or says more than a move, by the
    verbs its words name, `cued`: "swap #1 and #2 and delete #3" is the model's to read)."""
    if not cued <= MOVING:
        return None
    ordered = sorted(tasks, key=lambda t: t.position)
    return _swapped(shown, places, ordered) or _stepped(shown, places, ordered)


def _count(word: str) -> int | None:
    return int(word) if word.isdigit() and 0 < int(word) < 100 else NUMBERS.get(word)


def _swapped(shown: list[Word], places: Places, ordered: list[TaskPublic]) -> list[Action] | None:
    """A word of swapping, not negated, and two tasks: the two the request names, or "the first two", "the last
    two" where it names none. The later one takes the earlier one's place, and the earlier one the later's."""
    raw = [plain(u.text) for u in shown]
    if not any(stem(w) in SWAPPING and not NOT.intersection(raw[max(0, i - 2) : i]) for i, w in enumerate(raw)):
        return None
    marks = list(dict.fromkeys(u.text for u in shown if PLACEHOLDER.fullmatch(u.text) and u.text in places))
    if len(marks) == 2 and len(places) == 2:
        pair = [places[m][0] for m in marks]
    elif not places and len(ordered) >= 2:
        ends = [_ENDS[w] for w, n in zip(raw, raw[1:], strict=False) if w in _ENDS and n in _PAIR]
        if len(ends) != 1:
            return None
        pair = ordered[:2] if ends[0] == "top" else ordered[-2:]
    else:
        return None
    ids = [t.id for t in ordered]
    first, second = sorted(pair, key=lambda t: ids.index(t.id))
    i, j = ids.index(first.id), ids.index(second.id)
    out = [Action("top", span=places_name(places, second), task=second, place=i)]
    if j > i + 1:  # side by side, one move is the swap
        out.append(Action("top", span=places_name(places, first), task=first, place=j))
    return out


def _stepped(shown: list[Word], places: Places, ordered: list[TaskPublic]) -> list[Action] | None:
    """The one task named, moved up or down by so many places: "up one spot", "down by 2", "up a notch". A count
    with no word of a place must end its clause ("move #1 up one", not "set up 2 chairs")."""
    if len(places) != 1:
        return None
    ((task, span),) = places.values()
    raw = [plain(u.text) for u in shown] + [""]
    for i, word in enumerate(raw[:-1]):
        if word not in STEPS:
            continue
        k = i + 1 + (raw[i + 1] == "by")
        count = _count(raw[k])
        unit = stem(raw[k + 1]) in UNITS if count is not None else False
        if count is None or not (unit or raw[k + 1] in _CLOSING or raw[k + 1] == ""):
            continue
        at = next(n for n, t in enumerate(ordered) if t.id == task.id)
        place = min(max(at + STEPS[word] * count, 0), len(ordered) - 1)
        return [Action("top", span=span, task=task, place=place)] if place != at else []
    return None


def places_name(places: Places, task: TaskPublic) -> str:
    """The words the request named `task` by, else its name (a task named by place: "the first two")."""
    return next((words for t, words in places.values() if t.id == task.id), task.name)
