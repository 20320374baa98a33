"""A task's day, date or time changed in code: "dinner with Sam got moved to Saturday", "Dana's meeting got pushed to
4", "the insurance is now due by the 22nd".
The request gives only the new day or time, and the model, which leans to ticking a task named, cannot write the
new name; the task's name holds a day or a time of the same kind, and that one word (or clock time) is replaced."""

from __future__ import annotations

import re

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.matching import plain

DAYS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun "
    "today tonight tomorrow".split()
)
DATE = re.compile(r"(?:[12]?\d|3[01])(?:st|nd|rd|th)", re.IGNORECASE)
CLOCK = re.compile(r"(?:[01]?\d|2[0-3])(?::[0-5]\d)?(?:am|pm)?|noon|midnight", re.IGNORECASE)
_SAID_CLOCK = re.compile(r"(?:[01]?\d|2[0-3])(?: ?: ?[0-5]\d)?(?: ?(?:am|pm)\b)?(?![\w:])|noon\b|midnight\b", re.I)
MOVING = frozenset("moved pushed changed rescheduled bumped shifted switched postponed now".split())
_ON_THE_WAY = frozenset("to for till until back up forward on at the due by".split())


def kind(text: str) -> str | None:
    word = plain(text)
    if word in DAYS:
        return "day"
    if DATE.fullmatch(word):
        return "date"
    return "clock" if CLOCK.fullmatch(word) else None


def new_time(shown: list[Word]) -> tuple[str, str] | None:
    """The day or time a request moves something to, and its kind: the words after a word of moving in time and
    "to", "for", "back to" … ("got pushed back to 4 pm" gives "4 pm"); none where nothing is moved to one."""
    for i, unit in enumerate(shown):
        if plain(unit.text) not in MOVING:
            continue
        j = i + 1
        while j < len(shown) and plain(shown[j].text) in _ON_THE_WAY:
            j += 1
        if j == i + 1 or j >= len(shown):
            continue
        if (found := kind(shown[j].text)) in ("day", "date"):
            return shown[j].text, found
        if "by" in (plain(u.text) for u in shown[i + 1 : j]):
            continue  # "pushed back by 2 hours" says how far, not to when
        following = "".join(u.as_next() for u in shown[j : j + 4]).strip()
        if (clock := _SAID_CLOCK.match(following)) is not None:
            return clock.group(0), "clock"
    return None


def retimed(task: TaskPublic, said: str, of: str) -> str | None:
    """The task's name with its day, date or time of kind `of` as `said`; none where it holds none (or several)."""
    parts = re.split(r"(\s+)", task.name)
    found = [n for n, part in enumerate(parts) if part.strip() and kind(part.strip(",.;")) == of]
    if len(found) != 1:
        return None
    at = found[0]
    if of == "clock" and at + 2 < len(parts) and plain(parts[at + 2]) in ("am", "pm"):
        parts[at + 1 : at + 3] = []  # "at 2 pm": the "pm" goes with the old time
    parts[at] = said
    return "".join(parts)
