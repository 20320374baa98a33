"""The shape of a request's words that code reads exactly, around what the model chooses: quotes, clause
ends and list words, and putting back the words a placeholder stands for."""

from __future__ import annotations

import re

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.matching import PLACEHOLDER, STOP, plain

MAX_SPAN_WORDS = 40


QUOTES = {"'": "'", '"': '"', "‘": "’", "“": "”", "«": "»"}


def quoted(units: list[Word]) -> dict[int, int]:
    """The quotes of a request: for each, its first word and the index of its closing mark ("add 'call
    grandma' please": {3: 5}). A quote holds at least one word, and a mark closes only its own kind."""
    found: dict[int, int] = {}
    i = 0
    while i < len(units):
        closing = QUOTES.get(units[i].text)
        if closing is not None:
            end = next((j for j in range(i + 1, len(units)) if units[j].text == closing), None)
            if end is not None:
                if end > i + 1 and end - i <= MAX_SPAN_WORDS:
                    found[i + 1] = end
                i = end
        i += 1
    return found


CLAUSE_ENDS = frozenset({",", ";", ".", "!", "?", ":", "-", "–", "—"})
CONNECTIVES = frozenset({"and", "then", "also", "plus", "&", "+"})
DETERMINERS = frozenset("the a an my your our his her their its this that these those some".split())


OPERATIONS = frozenset("add remove delete rename tick untick uncheck mark put erase move".split())
"""Words that say an operation on the list: where one begins a further clause (services.llm_worker.backends.clauses)."""

POINTING = frozenset("it that this them those these there here one ones".split())
"""Words that point at a thing rather than name it ("remove it", "put eggs on there")."""

JOINERS = frozenset({",", "and", "&", "the", "my", "also", "plus", "both"})


def joined(shown: list[Word], at: int) -> list[str]:
    """The other placeholders of a list the one at `at` is part of ("#1, #2 and the #3"): only list words
    (commas, "and", articles) between them."""

    def walk(step: int) -> list[str]:
        found, i = [], at + step
        while 0 <= i < len(shown):
            if PLACEHOLDER.fullmatch(shown[i].text):
                found.append(shown[i].text)
            elif shown[i].text.casefold() not in JOINERS:
                break
            i += step
        return found

    return walk(-1)[::-1] + walk(1)


def unmask(pieces: list[str], places: dict[str, tuple[TaskPublic, str]]) -> str:
    """The copied words as the person wrote them: each placeholder back to the words it stands for."""
    return "".join(f" {places[p.strip()][1]}" if p.strip() in places else p for p in pieces).strip()


TOP_WORDS = frozenset({"top", "start", "front", "beginning", "head"})
PLACING = frozenset({"to", "at", "on", "onto", "in"})


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
        if end is not None and (end == len(shown) or _ends_clause(shown[end])):
            found.append((start, end))
    return found


def placed_first(shown: list[Word], last: int, tops: list[tuple[int, int]]) -> bool:
    """Whether a phrase of `tops` puts the span ending at word `last` first: the next one after it in its clause,
    with no task and no other operation between ("add oranges and grapes at the top", not "add butter and move
    #1 to the top")."""
    for start, _ in tops:
        if start > last:
            between = shown[last + 1 : start]
            return not any(
                u.text in CLAUSE_ENDS or PLACEHOLDER.fullmatch(u.text) or plain(u.text) in OPERATIONS for u in between
            )
    return False


def _ends_clause(unit: Word) -> bool:
    return unit.text in CLAUSE_ENDS or unit.text.casefold() in CONNECTIVES or unit.text.casefold() == "please"


_THE_LIST = re.compile(r"(?:^|\s)(\S+)\s+(?:my|the|this|our|your)\s+(?:to-?do\s+)?list\b", re.IGNORECASE)
TOWARDS = frozenset("to on onto in into for from off of".split())


def names_the_list(span: str) -> bool:
    """Whether words copied as an item speak of the list itself ("summarize my list", "tidy up the list"): "the
    list" after a word that does not place something on it ("milk to my list" may still be milk)."""
    return any(found.group(1).casefold() not in TOWARDS for found in _THE_LIST.finditer(span))


TRAILING = (
    frozenset(
        "please pls plz thanks thank thx ty too also now asap today tonight tomorrow later again soon ok okay lol "
        "instead anymore either list".split()
    )
    | POINTING
)
"""Words that may end a request after its item without being part of it ("add milk please", "eggs too")."""


def dangling(units: list[Word], at: int) -> bool:
    """Whether word `at` is the last of its clause that names something (after it, up to the clause's end, only
    such words as TRAILING): a span that ended before it would leave it behind."""

    def names(word: str) -> bool:
        found = plain(word)
        return any(ch.isalnum() for ch in word) and not PLACEHOLDER.fullmatch(word) and found not in TRAILING | STOP

    if at >= len(units) or not names(units[at].text):
        return False
    after = units[at + 1 :]
    end = next((n for n, u in enumerate(after) if u.text in CLAUSE_ENDS), len(after))
    return not any(names(u.text) for u in after[:end])
