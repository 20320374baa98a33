"""A spelling fixed in code: "fix the spelling of bannanas" gives no new name to copy, and the model cannot spell
one out, but its vocabulary holds some 65,000 whole English words (a token that is a space and a lowercase word).
A word of the task's name that is none of them becomes the nearest that is: a slip or two away, the same first
letter, the most common first (a lower token id is a more common piece of text)."""

from __future__ import annotations

import functools
import re
from typing import Any

from services.llm_worker.backends.actions import Word, request_text, words
from services.llm_worker.backends.cues import WHOLE, slipped
from services.llm_worker.backends.matching import edits, plain, stem

ASKING = frozenset(stem(w) for w in "spelling spell spelt misspelled misspelt typo typos".split())
SHORTEST = 4
_OWN = "move mark tick check finish finished done complete completed"
"""Words shorter than this are left as they are: too many real words are a slip away from them."""


def asks(shown: list[Word]) -> bool:
    """Whether the request speaks of spelling ("fix the spelling of #1", "typo in #1")."""
    return any(stem(plain(u.text)) in ASKING for u in shown)


@functools.lru_cache(maxsize=2)
def dictionary(llm: Any) -> dict[str, int]:
    """The whole lowercase words of the model's vocabulary, each with its token id (~0.7 s, once a model)."""
    found: dict[str, int] = {}
    for token in range(int(llm.n_vocab())):
        piece = llm.detokenize([token])
        if piece.startswith(b" ") and len(piece) > 2:
            word = piece[1:].decode("utf-8", "ignore")
            if word.isalpha() and word.islower():
                found.setdefault(word, token)
    return found


def respelt(name: str, words: dict[str, int]) -> str:
    """The name with each word that is no word of `words` as the nearest that is (case kept as written)."""

    def fixed(match: re.Match[str]) -> str:
        word = match.group(0)
        low = word.lower()
        if len(low) < SHORTEST or low in words:
            return word
        allowed = 1 if len(low) <= 5 else 2
        near = [
            (n, words[w], w)
            for w in words
            if w[0] == low[0] and abs(len(w) - len(low)) <= allowed and (n := edits(low, w)) <= allowed
        ]
        if not near:
            return word
        best = min(near)[2]
        return best.capitalize() if word[0].isupper() else best

    return re.sub(r"[^\W\d_]+", fixed, name)


OPERATIONS = sorted({w for said in WHOLE.values() for w in said if len(w) >= 4} | set(_OWN.split()))
"""The words that name an operation, as a slip of one would be read."""


def operations_respelt(units: list[Word], known: dict[str, int]) -> list[Word]:
    """The request with a word of an operation typed with a slip ("mvoe", "delte", "remvoe") as that word, where
    the slip is no word of its own (not "ease" of "erase", "heck" of "check"), and an "ad" that begins it as "add":
    the model reading the request and code reading its cues then see the operation, and an item its words."""
    out = []
    for n, unit in enumerate(units):
        low = unit.text.lower()
        fixed = "add" if n == 0 and low == "ad" and len(units) > 1 else None
        if fixed is None and len(low) >= SHORTEST and low.isalpha() and low not in known:
            fixed = next((w for w in OPERATIONS if slipped(low, w)), None)
        out.append(Word(fixed, unit.spaced) if fixed else unit)
    return out


def request_words(text: str, llm: Any) -> list[Word]:
    """The words of a request (actions.words) with its operations' slips read as the operations."""
    return operations_respelt(words(request_text(text)), dictionary(llm))
