"""The few-shot prompts the embedded model continues: its own action lines, and, for a second opinion on the
verb when it is unsure, the same examples said in plain words ("mark #1 as done")."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

INSTRUCTIONS = (
    "Requests to a to-do list app, each turned into actions, one a line. #1, #2 stand for items already on "
    "the list.\n\n"
)

# (request, its action lines): the examples the model continues. An item already on the list reads as a
# placeholder (#1), as code puts it in the request (`masked`), so the model learns the verb from the words
# around it and never has to copy a task's name. None of these is a request of bench/model_set.
EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("add milk", ("add: milk",)),
    ("I finished the #1", ("finish: #1",)),
    ("remove #1 from the list", ("remove: #1",)),
    ("rename #1 to rye bread", ("rename: #1 => rye bread",)),
    ("hello there", ("none",)),
    ("move #1 to the top", ("top: #1",)),
    ("clear out the completed items", ("clear",)),
    ("we need coffee and sugar", ("add: coffee", "add: sugar")),
    ("bought the #1", ("finish: #1",)),
    ("untick the #1", ("undo: #1",)),
    ("we can drop the #1", ("remove: #1",)),
    ("change #1 to pay the gas bill", ("rename: #1 => pay the gas bill",)),
    ("tell me a story", ("none",)),
    ("put the #1 last", ("bottom: #1",)),
    ("remind me to call the bank", ("add: call the bank",)),
    ("is #1 on my list?", ("none",)),
    ("delete everything I already finished", ("clear",)),
    ("add cheese and take the #1 off", ("add: cheese", "remove: #1")),
    ("#1 and #2 are done", ("finish: #1", "finish: #2")),
    ("#1 → hand #1", ("rename: #1 => hand #1",)),
    ("#1 at the top please", ("top: #1",)),
)


def few_shot_prefix() -> str:
    """Everything before the person's request: the same for every request, so llama.cpp keeps it cached."""
    return f"{INSTRUCTIONS}Request: {examples_shown(EXAMPLES)}"


MEANING_INSTRUCTIONS = (
    "Requests to a to-do list app and what they mean. #1, #2 stand for items already on the list.\n\n"
)

MEANING_CUES = {
    "add": " add",
    "finish": " mark",
    "undo": " mark",
    "remove": " delete",
    "rename": " rename",
    "top": " move",
    "bottom": " move",
    "clear": " clear",
    "none": " nothing",
}
"""Each verb as the first word of its plain meaning ("top" and "bottom" both "move", "finish" and "undo" both
"mark": the action lines tell them apart)."""


def meaning(line: str) -> str:
    """An action line in plain words ("finish: #1" → "mark #1 as done")."""
    verb, _, rest = line.partition(":")
    rest = rest.strip()
    old, _, new = rest.partition(" => ")
    said = {
        "add": f"add {rest}",
        "finish": f"mark {rest} as done",
        "undo": f"mark {rest} as not done",
        "remove": f"delete {rest}",
        "rename": f"rename {old} to {new}",
        "top": f"move {rest} to the top",
        "bottom": f"move {rest} to the bottom",
        "clear": "clear the done items",
    }
    return said.get(verb, "nothing")


def meaning_prefix() -> str:
    """The examples as request → plain meaning; the request and "\nMeaning:" follow."""
    shots = "\n\n".join(
        f"Request: {request}\nMeaning: " + ", then ".join(meaning(line) for line in lines)
        for request, lines in EXAMPLES
    )
    return f"{MEANING_INSTRUCTIONS}{shots}\n\nRequest: "


# ---- the examples nearest a request -------------------------------------------------------------------

_TOKEN = re.compile(r"#\d+|\w+|[^\w\s]+")
_FILLER = frozenset("# the a an my our your this that it some of".split())
"""Words that say nothing of what a request asks by themselves (a placeholder, an article): a term only
beside another word ("# done", "put #")."""
TRIPLES_WEIGH = 0.3
"""What a word's letter triples weigh in all, against 1 for the word itself."""


def _terms(text: str) -> dict[str, float]:
    """A request as the terms it is compared by, weighted: words in lower case, any placeholder as "#", symbols
    kept; each pair of neighbours ("put #", "# last"), so that word order counts; and, weighing
    `TRIPLES_WEIGH` in all, the letter triples of each word with its edges ("ed>" of "vacuumed" and "washed"), so
    that a misspelling or another form of a word still finds its kin."""
    units = ["#" if t.startswith("#") and t[1:].isdigit() else t for t in _TOKEN.findall(text.casefold())]
    bag: dict[str, float] = defaultdict(float)
    for unit in units:
        if unit not in _FILLER:
            bag[unit] += 1
    for a, b in zip(units, units[1:], strict=False):
        if not {a, b} <= _FILLER:
            bag[f"{a} {b}"] += 1
    for unit in units:
        if unit.isalpha() and len(unit) >= 4:
            edged = f"<{unit}>"
            triples = [f"~{edged[i : i + 3]}" for i in range(len(edged) - 2)]
            for triple in triples:
                bag[triple] += TRIPLES_WEIGH / len(triples)
    return bag


class Nearest:
    """The examples of the pool most like a request, by TF-IDF cosine over `_terms`."""

    def __init__(self, pool: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        self.pool = pool
        counts: Counter[str] = Counter()
        bags = [_terms(request) for request, _ in pool]
        for bag in bags:
            counts.update(set(bag))
        self.idf = {term: math.log((1 + len(pool)) / (1 + n)) + 1.0 for term, n in counts.items()}
        self.vectors = [self._vector(bag) for bag in bags]

    def _vector(self, bag: dict[str, float]) -> dict[str, float]:
        vector = {t: n * self.idf[t] for t, n in bag.items() if t in self.idf}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {t: v / norm for t, v in vector.items()}

    def pick(self, request: str, k: int) -> list[tuple[str, tuple[str, ...]]]:
        """The `k` nearest examples, the nearest last (just before the request, where it weighs most)."""
        mine = self._vector(_terms(request))
        scored = sorted(
            ((sum(w * other.get(t, 0.0) for t, w in mine.items()), n) for n, other in enumerate(self.vectors)),
            reverse=True,
        )
        return [self.pool[n] for score, n in reversed(scored[:k]) if score > 0]


def examples_shown(examples: Sequence[tuple[str, tuple[str, ...]]]) -> str:
    """Examples as the prompt writes them, each followed by the next "Request: "."""
    return "".join(f"{request}\n" + "\n".join(lines) + "\n\nRequest: " for request, lines in examples)
