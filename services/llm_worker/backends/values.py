"""A number, code or day in one task's name changed in code: "rice: make it 2 bags" (of "buy 1 bag of rice"), "that
training one, make it 4x", "the roadmap task, it should be Q4", "lunch is for 12 people not 10", "it's saturday not
friday for the Hendersons dinner". The request gives only the new value; the task's name holds one value of the same
shape (a number with the same letters around it, or a day), and only that is replaced. The model, which leans to
ticking or removing a task named, cannot write the new name."""

from __future__ import annotations

import re

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.cues import DONE
from services.llm_worker.backends.matching import plain, stem
from services.llm_worker.backends.mentions import Places
from services.llm_worker.backends.times import DAYS, retimed

_VALUE = re.compile(r"([a-z]{0,2}?|[$£€])(\d+(?:[.,]\d+)?)([a-z%]{0,3})")
_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()
_WORDS = {w: str(n) for n, w in enumerate(_NUMBERS) if w != "one"}
"""Values said in words ("make it two"); not "one", which is mostly a task ("that training one")."""
BECOMING = frozenset("make makes should be is are it's it’s its now actually change update fix correct meant".split())
"""Words that say what a task's value becomes; one of them must be said (besides the new value)."""
_ENDS = ",.;:!?—–()\"'‘’“”"


def _shape(word: str) -> tuple[str, str] | None:
    """A value's shape, the letters around its number ("q" and "" of "Q4", "" and "x" of "3x"), or "day"; none for
    a word that is no value."""
    word = plain(word.strip(_ENDS))
    if word in DAYS:
        return ("day", "")
    found = _VALUE.fullmatch(_WORDS.get(word, word))
    return (found.group(1), found.group(3)) if found else None


Renamed = tuple[TaskPublic, str]


def revalued(units: list[Word], places: Places, tasks: list[TaskPublic], cued: set[str]) -> Renamed | None:
    """The task whose value the request changes, and its new name; none where it says no such change (a request
    that names another operation, several tasks, no word of becoming, or a value no name holds the like of)."""
    if cued - {"rename"}:
        return None
    written = "".join(u.as_next() for u in units).split()
    said = [plain(w.strip(_ENDS)) for w in written]
    if not BECOMING.intersection(said) or DONE.intersection(stem(w) for w in said):
        return None
    named = [task for task, _ in places.values()]
    shapes = [_shape(w) for w in written]
    old: str | None = None
    new_at = None
    if "not" in said:  # "12 people not 10": the value before "not" is new, the one after it old
        k = said.index("not")
        after = next((j for j in range(k + 1, min(k + 3, len(said))) if shapes[j]), None)
        before = next((j for j in range(k - 1, max(k - 4, -1), -1) if shapes[j]), None)
        if after is not None and before is not None and shapes[after] == shapes[before]:
            old, new_at = said[after], before
    elif len(named) == 1:  # the one value said that the task's name does not hold
        own = plain(named[0].name).split()
        fresh = [j for j, s in enumerate(shapes) if s and said[j] not in own]
        new_at = fresh[0] if len(fresh) == 1 else None
    if new_at is None:
        return None
    shape = shapes[new_at]
    candidates = named if len(named) == 1 else (tasks if old is not None and not named else [])
    found = [(t, n) for t in candidates for n, w in enumerate(t.name.split()) if _fits(w, shape, old)]
    if len(found) != 1:
        return None
    task, at = found[0]
    new = written[new_at].strip(_ENDS)
    if shape == ("day", ""):
        renamed = retimed(task, new, "day")
        return (task, renamed) if renamed is not None and renamed != task.name else None
    name = task.name.split()
    if plain(new) in _WORDS and name[at].isdigit():
        new = _WORDS[plain(new)]
    if plain(name[at].strip(_ENDS)) == plain(new):
        return None
    name[at] = name[at].replace(name[at].strip(_ENDS), new)
    # "make it 2 bags" of "buy 1 bag of rice": the unit after the value takes the request's form.
    unit = said[new_at + 1] if new_at + 1 < len(said) else ""
    if at + 1 < len(name) and unit and stem(plain(name[at + 1])) == stem(unit) and unit.isalpha():
        name[at + 1] = written[new_at + 1].strip(_ENDS)
    return task, " ".join(name)


def _fits(word: str, shape: tuple[str, str] | None, old: str | None) -> bool:
    """Whether a word of a name is a value of `shape` (and the old one said: "friday" is "fri")."""
    word = plain(word.strip(_ENDS))
    if _shape(word) != shape:
        return False
    return old is None or word == old or (shape == ("day", "") and word[:3] == old[:3])
