"""The shape of a request's words that code reads exactly, around what the model chooses: quotes, clause
ends and list words, and putting back the words a placeholder stands for."""

from __future__ import annotations

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.matching import PLACEHOLDER

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
