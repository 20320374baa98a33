"""Words that say which operation a request asks for, read in code as a weight on the model's choice of verb.

The model picks each line's verb by its own probabilities, and a base model of 270M parameters leans to "add"
whatever the request says ("could you please remove all the stuff I've already done?" read as an item to add).
Where the request uses a word that only ever names one operation on a list ("rename", "delete", "untick"), that
verb's probability is weighed up by CUE_WEIGHS before the choice; the model still chooses, and a word that names
no operation here changes nothing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Word
from services.llm_worker.backends.matching import PLACEHOLDER, STOP, content_words, misspelt, plain, stem

SAID = {
    "add": "add",
    "remove": "remove delete erase ditch scrap rid",
    "rename": "rename change correct retitle reword typo spelling",
    "undo": "untick uncheck unmark undo undone reopen",
    "clear": "clear",
}
WORDS = {verb: frozenset(stem(w) for w in said.split()) for verb, said in SAID.items()}
WHOLE = {verb: said.split() for verb, said in SAID.items()}
NOT = frozenset("not isn't aren't wasn't isnt arent wasnt don't dont never".split())
DONE = frozenset(stem(w) for w in "done complete completed finished ticked checked".split())

CUE_WEIGHS = 6.0


def said(shown: list[Word], places: Mapping[str, tuple[TaskPublic, str]] | None = None) -> set[str]:
    """The verbs the request's words name: each of SAID by one of its words (another form, or misspelt), unless
    "not" comes just before ("do not add anything"); "undo" also by a done-word after "not" ("eggs aren't done");
    "clear" also by a word of removing with a done-word and no task named ("delete the completed ones");
    "finish" by a task's own first word in the past, just before the placeholder that stands for the rest of
    its name ("vacuumed the #1" for "vacuum the living room": the person did it)."""
    raw = [plain(u.text).replace("’", "'") for u in shown]
    verbs = set()
    for i, word in enumerate(raw):
        if not (places and word.endswith("ed")):
            continue
        after = next((u.text for u in shown[i + 1 : i + 4] if plain(u.text) not in STOP), "")
        if (place := places.get(after)) is not None:
            own = content_words(place[0].name)[0]
            if own != word and not own.endswith("ed") and stem(own) == stem(word):
                verbs.add("finish")
    found = [stem(w) for w in raw]
    for i, word in enumerate(found):
        negated = any(w in NOT for w in found[max(0, i - 2) : i])  # "do not add anything" names no add
        if word in DONE and negated:
            verbs.add("undo")
        elif not negated:
            verbs |= {verb for verb, words in WORDS.items() if word in words}
            # A slip of a letter too ("remvoe", "delte"), but not one changed: "clean" is a word, not "clear".
            verbs |= {verb for verb, whole in WHOLE.items() if any(_slip(raw[i], w) for w in whole)}
    named = any(PLACEHOLDER.fullmatch(u.text) for u in shown)
    if "remove" in verbs and DONE.intersection(found) and not named:
        verbs.add("clear")
    return verbs


def _slip(word: str, cue: str) -> bool:
    """A letter dropped, added, or two swapped, in a word of four letters or more."""
    return word != cue and (len(word) != len(cue) or sorted(word) == sorted(cue)) and misspelt(word, cue)


def weighed(options: list[str], share: np.ndarray, verbs: set[str]) -> np.ndarray:
    """The model's share of each verb, those the request names weighed up."""
    if not verbs.intersection(options):
        return share
    out = share * np.array([CUE_WEIGHS if option in verbs else 1.0 for option in options])
    return np.asarray(out / out.sum())
