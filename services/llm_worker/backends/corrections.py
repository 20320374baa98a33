"""A part of a task's name corrected in code: "we drink whole milk not 2%, fix that", "make the milk 3 liters
instead of 2". The request says the new words and the old ones; the old ones stand in exactly one task's name,
and only they are replaced there ("buy 2% milk" becomes "buy whole milk": the "milk" said again is the name's own).
The model, which leans to ticking a task named, would copy the words after the task as its new name."""

from __future__ import annotations

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.matching import STOP, find_run, plain

CORRECTING = frozenset("fix actually wait oops meant mean wrong should correct rename change".split())
"""Words that say a name is being put right: with one of them, "A not B" corrects B to A."""


_ENDS = ",.;!?"


def corrected(units: list[Word], tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """The task a request corrects a part of, and its new name; none where it says no such thing. Read word by
    word as written between spaces ("2%," is the name's "2%" at a clause's end)."""
    written = "".join(u.as_next() for u in units).split()
    said = [plain(w.strip(_ENDS)) for w in written]
    for k, word in enumerate(said):
        instead = word == "instead" and said[k + 1 : k + 2] == ["of"]
        if not (instead or (word == "not" and CORRECTING.intersection(said))):
            continue
        start = k + (2 if instead else 1)
        end = next((j + 1 for j in range(start, len(written)) if written[j][-1] in _ENDS), len(written))
        old = said[start:end]
        found = [(task, at) for task in tasks if old and (at := find_run(plain(task.name).split(), old)) is not None]
        if len(found) != 1 or written[k - 1][-1:] in tuple(_ENDS):
            continue
        task, at = found[0]
        name = task.name.split()
        # The words said again around the new ones are the name's own ("whole milk" of "buy 2% milk").
        before, after = said[:k], [plain(w) for w in name[at + len(old) :]]
        while before and after and before[-1] == after[0]:
            before, after = before[:-1], after[1:]
        first = len(before) - len(old)
        first -= said[first : len(before)] == old  # "duct tape not tape": the old word said again, with one more
        new = written[first : len(before)] if first >= 0 else []
        if not new or any(plain(w) in STOP for w in new):
            continue
        return task, " ".join([*name[:at], *(w.strip(_ENDS) for w in new), *name[at + len(old) :]])
    return None
