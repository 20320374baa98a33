"""The second reading of a request: the same model holding a prompt of plain meanings ("Meaning: remove #1"),
asked where the action lines are unsure of their first verb, and which end of the list a move goes to."""

from __future__ import annotations

import numpy as np

from services.llm_worker.backends.reader import Reader
from services.llm_worker.backends.shots import MEANING_CUES, meaning_prefix

TOP_SAID = (" top", " start", " front", " beginning")
BOTTOM_SAID = (" bottom", " end", " back")
"""The words for each end of a list that may follow "move #1 to the" in plain words: the model's probability for
an end is that of all its words, so that it may copy the request's own ("to the end")."""
EVEN = 0.2
"""The plain words cannot tell top from bottom when their probabilities are this close ("#1 can wait")."""


def second_opinion(second: Reader, shown: str, verbs: list[str], share: np.ndarray) -> np.ndarray:
    """The first verb again, from the request (`shown`, its tasks as placeholders) read as "what it means": the
    two readings' probabilities multiplied (the prompts err differently: the action lines miss renames the plain
    words see)."""
    second.start(f"{meaning_prefix()}{shown}\nMeaning:")
    cues = [second.tokens(MEANING_CUES[v])[0] for v in verbs]
    # Verbs said with the same first word ("mark" done / not done, "move" up / down) split its probability:
    # the plain words do not tell them apart, the action lines do.
    other = second.share([[cue] for cue in cues]) / np.array([cues.count(cue) for cue in cues])
    joint = share * other
    return np.asarray(joint / joint.sum())


def direction(second: Reader, shown: str, verbs: list[str], share: np.ndarray, marks: list[str]) -> np.ndarray:
    """Top or bottom, from the request read as "move #1 to the …" (`marks`: the placeholders it may move): the
    action lines only say that it is a move (they lean to "top", whose examples come first, even for "move #1 to
    the end"), while the plain words tell "last", "the end" and "down" from "first" and "up". Where the plain words
    cannot tell, the two readings' probabilities multiplied. The two verbs' sum is kept."""
    top, bottom = verbs.index("top"), verbs.index("bottom")
    second.start(f"{meaning_prefix()}{shown}\nMeaning: move")
    second.choose([second.tokens(f" {m}") for m in marks])
    second.feed(second.tokens(" to the"))
    ends = [*TOP_SAID, *BOTTOM_SAID]
    each = second.share([second.tokens(e) for e in ends])
    said = np.array([each[: len(TOP_SAID)].sum(), each[len(TOP_SAID) :].sum()])
    if abs(said[0] - said[1]) < EVEN:
        said = said * np.array([share[top], share[bottom]])
    out = share.copy()
    if said.sum() > 0:
        out[top], out[bottom] = (share[top] + share[bottom]) * said / said.sum()
    return out
