"""A spelling fixed in code: "fix the spelling of bannanas" gives no new name to copy, and the model cannot spell
one out, but its vocabulary holds some 65,000 whole English words (a token that is a space and a lowercase word).
A word of the task's name that is none of them becomes the nearest that is: a slip or two away, the same first
letter, the most common first (a lower token id is a more common piece of text)."""

from __future__ import annotations

import functools
import re
from typing import Any

from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.matching import edits, plain, stem

ASKING = frozenset(stem(w) for w in "spelling spell spelt misspelled misspelt typo typos".split())
SHORTEST = 4
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
