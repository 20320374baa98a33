"""Where a request puts a task on the list, read in code: "at the top" after an item to add, beside another task
("above #2"), or at a place given by number ("#2", "third", "position 4")."""

from __future__ import annotations

import re

from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.matching import PLACEHOLDER, plain, stem
from services.llm_worker.backends.spans import (
    CLAUSE_ENDS,
    CONNECTIVES,
    OPERATIONS,
    PLACING,
    PRONOUNS,
    TOP_WORDS,
    ordinal,
)


def top_phrases(shown: list[Word]) -> list[tuple[int, int]]:
    """Where a request says that what it adds goes first, as ranges of its words: "at the top (of my list)", "to
    the very start", or "first" at a clause's end. Each ends a clause: "add milk to the top shelf" says nothing
    of the list."""
    found = []
    for i, unit in enumerate(shown):
        word = unit.text.casefold()
        end = None
        if word == "first":
            end = i + 1
            start = i
        elif word in TOP_WORDS and i >= 1 and shown[i - 1].text.casefold() in ("at", "to"):
            start, end = i - 1, i + 1  # "add at top: …"
        elif word in TOP_WORDS and i >= 2 and shown[i - 1].text.casefold() in ("the", "very"):
            start = i - 1
            while start > 0 and shown[start - 1].text.casefold() in ("the", "very"):
                start -= 1
            if start > 0 and shown[start - 1].text.casefold() in PLACING:
                start, end = start - 1, i + 1
                if end < len(shown) and shown[end].text.casefold() == "of":
                    # "of the list", "of my shopping list": up to the clause's end, four words at most
                    tail = end + 1
                    while tail < len(shown) and tail - end <= 4 and not _ends_clause(shown[tail]):
                        tail += 1
                    end = tail
        ahead = end is not None and end < len(shown) and stem(plain(shown[end].text)) == "add"  # "at the top add …"
        if end is not None and (end == len(shown) or _ends_clause(shown[end]) or ahead):
            found.append((start, end))
    return found


def placed_first(shown: list[Word], span: tuple[int, int], tops: list[tuple[int, int]]) -> range | None:
    """Where a phrase of `tops` puts the span of words `span` (first, last) first: the next one after it in its
    clause, with no task and no other operation between ("add oranges and grapes at the top", not "add butter
    and move #1 to the top"); an operation on what was just added is none other ("add #1 and eggs, then put
    them at the top"). Or one just before it that begins its clause or follows "add" ("add at top: …", "at the
    top, add …"). The words that place it (from those pointing back), or none."""
    first, last = span
    for start, end in tops:
        begins = start == 0 or _ends_clause(shown[start - 1]) or stem(plain(shown[start - 1].text)) == "add"
        begins = begins and plain(shown[start].text) != "first"  # "first, add milk": first of all
        if (
            end <= first
            and begins
            and all(u.text in _LEADING or stem(plain(u.text)) == "add" for u in shown[end:first])
        ):
            return range(start, end)
        if start > last:
            between = shown[last + 1 : start]
            if len(between) >= 2 and plain(between[-1].text) in PRONOUNS and plain(between[-2].text) in OPERATIONS:
                between = between[:-2]
                while between and (between[-1].text in CLAUSE_ENDS or plain(between[-1].text) in CONNECTIVES):
                    between = between[:-1]
            if any(
                u.text in CLAUSE_ENDS or PLACEHOLDER.fullmatch(u.text) or plain(u.text) in OPERATIONS for u in between
            ):
                return None
            return range(last + 1 + len(between), end)
    return None


_LEADING = frozenset(": , - – —".split())


def _ends_clause(unit: Word) -> bool:
    return unit.text in CLAUSE_ENDS or unit.text.casefold() in CONNECTIVES or unit.text.casefold() == "please"


BEFORE = frozenset("above before ahead".split())
AFTER = frozenset("after below under behind beneath underneath following".split())
_ON_THE_WAY = frozenset("of the my right just directly".split()) | set("'\"‘“")  # "right after 'buy wrapping paper'"
_NUMBERED = frozenset("position spot number place slot no".split())


def beside(shown: list[Word], marks: set[str]) -> tuple[str, bool] | None:
    """Where a move puts its task beside another one the request names: that task's placeholder, and whether it
    goes after it ("above #2", "in front of #2", "right after the #3", "below #1")."""
    for i, unit in enumerate(shown):
        word = unit.text.casefold()
        front = word == "front" and i > 0 and shown[i - 1].text.casefold() == "in"
        if word not in BEFORE | AFTER and not front:
            continue
        for j in range(i + 1, min(i + 4, len(shown))):
            if shown[j].text in marks:
                return shown[j].text, word in AFTER
            if shown[j].text.casefold() not in _ON_THE_WAY:
                break
    return None


def numbered(shown: list[Word], marks: set[str]) -> int | None:
    """The place (0 is the top) a request gives by number: "#2", "2nd", "third", "position 4", "spot no. 3";
    none for a placeholder (#1 stands for a task)."""
    for i, unit in enumerate(shown):
        word = unit.text.casefold()
        if (place := ordinal(word)) is not None:
            return max(place, 0)
        if (found := re.fullmatch(r"#(\d+)", word)) and unit.text not in marks:
            return max(int(found.group(1)) - 1, 0)
        following = [u.text for u in shown[i + 1 : i + 3] if u.text != "."]
        if word in _NUMBERED and following and following[0].isdigit():
            return max(int(following[0]) - 1, 0)
        # A bare number a task is put at, ending its clause ("move 4 to 1"): not "change #1 to 2 liters".
        ends = i + 1 == len(shown) or shown[i + 1].text in CLAUSE_ENDS
        if word.isdigit() and ends and i > 0 and shown[i - 1].text.casefold() in PLACING:
            return max(int(word) - 1, 0)
    return None
