"""Which task of the list words of a request name: words compared as the person may write them (another form
of a word, a slip of a letter, accents and case), weighted by how much each says of which task."""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata

from proto.messages import TaskPublic
from services.llm_worker.backends.pool import POOL
from services.llm_worker.backends.shots import EXAMPLES

STOP = frozenset(
    "the a an my our your to of for on in at from with it its off this that these those one list item items "
    "task thing things stuff please is are was be about up and n or by as into onto".split()
)


def plain(text: str) -> str:
    """Case and accents folded: "Crème" and "creme" are the same word."""
    return unaccented(text.casefold())


def unaccented(text: str) -> str:
    """Accents folded, case kept: "José" is "Jose"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def content_words(text: str) -> list[str]:
    found = re.findall(r"\w+", plain(text).replace("'s", ""))
    kept = [w for w in found if w not in STOP]
    return kept or found


PAST = dict(
    pair.split(":")
    for pair in (
        "bought:buy paid:pay made:make took:take taken:take sent:send wrote:write written:write ate:eat eaten:eat "
        "brought:bring sold:sell told:tell caught:catch drove:drive driven:drive fed:feed swept:sweep hung:hang "
        "threw:throw thrown:throw gave:give given:give met:meet built:build sewn:sew lent:lend"
    ).split()
)
"""Irregular past forms of verbs that begin tasks, and the verb ("bought the gift" of "buy gift for Mia")."""


@functools.lru_cache(maxsize=4096)
def stem(word: str) -> str:
    """A word without its ending (-ing, -ed, -es, -s, -ies), a final e or a doubled last consonant, so that the
    forms of a word meet: "vacuuming", "vacuumed" → "vacuum"; "called", "call" → "cal"; "mopped" → "mop"; an
    irregular past as its verb ("bought" → "buy")."""
    word = PAST.get(word, word)
    if len(word) > 4 and word.endswith(("ies", "ied")):
        return word[:-3] + "y"
    for ending in ("ing", "ed", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3 and not word.endswith("ss"):
            word = word[: -len(ending)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouy":
        word = word[:-1]
    return word


def edits(a: str, b: str) -> int:
    """The letters to add, drop, change or swap with a neighbour to turn one word into the other."""
    before = list(range(len(b) + 1))
    row = before
    earlier: list[int] = []
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            row.append(min(before[j] + 1, row[j - 1] + 1, before[j - 1] + (x != y)))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                row[j] = min(row[j], earlier[j - 2] + 1)
        earlier, before = before, row
    return row[-1]


def misspelt(a: str, b: str) -> bool:
    """One slip in a word of four letters or more (a letter dropped, added, changed or two swapped; in a word of
    four, not a letter changed: "rent" is not "tent"), two in one of eight or more: "appointmnet", "problm"."""
    shortest = min(len(a), len(b))
    allowed = 2 if shortest >= 8 else 1 if shortest >= 4 else 0
    if shortest == 4 and len(a) == len(b) and sorted(a) != sorted(b):
        return False
    return allowed > 0 and abs(len(a) - len(b)) <= allowed and edits(a, b) <= allowed


@functools.lru_cache(maxsize=65536)  # a request's windows compare the same words again and again
def alike(a: str, b: str, strict: bool = False) -> float:
    """How alike two words are: the same, a plural, another form of the same word (mow/mowed, vacuuming/vacuum;
    not when `strict`, for "vacuumed" says more than "vacuum"), or misspelled (landry, finsihed)."""
    if a == b or a in (b + "s", b + "es") or b in (a + "s", a + "es"):
        return 1.0
    if stem(a) == stem(b):
        return 0.0 if strict else 0.9
    if misspelt(a, b):
        return 0.85
    short, long = sorted((a, b), key=len)
    # Cut short ("groc", "vacum"): a word of four whole, a longer one but for its last letter ("rent" is not "renew").
    if len(short) >= 3 and long.startswith(short if len(short) <= 4 else short[:-1]):
        return 0.0 if strict else 0.9
    if not strict and misspelt(stem(a), stem(b)):
        return 0.8
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    return ratio if ratio >= (0.8 if strict else 0.75) else 0.0


def _pairs(these: list[str], those: list[str], strict: bool = False) -> list[tuple[float, int, int]]:
    """The best one-to-one pairing of two lists of words (greedy): (likeness, index in these, index in those)."""
    pairs = sorted(
        ((alike(a, b, strict), i, j) for i, a in enumerate(these) for j, b in enumerate(those)), reverse=True
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    chosen = []
    for score, i, j in pairs:
        if score > 0 and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            chosen.append((score, i, j))
    return chosen


def _paired(these: list[str], those: list[str], strict: bool) -> float:
    """The summed likeness of the best one-to-one pairing of two lists of words."""
    return sum(score for score, _, _ in _pairs(these, those, strict))


def _harmonic(recall: float, cover: float) -> float:
    return 2 * recall * cover / (recall + cover) if recall + cover else 0.0


def likeness(span: str, name: str, strict: bool = False) -> float:
    """0..1: how well a span of the request names a task, by words paired one to one (so "plumber" is weaker
    for "call the plumber" than "call the plumber" is, and a repeated word counts once)."""
    if plain(span).strip() == plain(name).strip():
        return 1.0
    mine, theirs = content_words(span), content_words(name)
    if not mine or not theirs:
        return 0.0
    paired = _paired(mine, theirs, strict)
    recall, cover = paired / len(mine), paired / len(theirs)
    if recall < 0.5:
        return 0.0
    return _harmonic(recall, cover)


def names_all(span: str, name: str) -> bool:
    """Whether a span names a task and nothing more, word for word (a slip or another form of a word forgiven):
    "landry" names "laundry", but "milk" is only part of "oat milk" (so "add milk" may add it)."""
    mine, theirs = content_words(span), content_words(name)
    return len(mine) == len(theirs) == len(_pairs(mine, theirs))


MATCH_AT_LEAST = 0.4
CLEAR_LEAD = 0.1


def match_task(span: str, tasks: list[TaskPublic]) -> TaskPublic | None:
    """The task a span names: the clearly best alike by words (case, accents, stems and typos forgiven)."""
    scored = sorted(((likeness(span, t.name), t) for t in tasks), key=lambda pair: -pair[0])
    if not scored or scored[0][0] < MATCH_AT_LEAST:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < CLEAR_LEAD and scored[0][0] < 1.0:
        return None
    return scored[0][1]


def _saying(examples: tuple[tuple[str, tuple[str, ...]], ...]) -> frozenset[str]:
    """The words requests use to say what to do with a task, as stems: those of the examples acting on a
    placeholder that no action line copies ("done", "bought", "move", "last")."""
    found: set[str] = set()
    for request, lines in examples:
        if PLACEHOLDER.search(request):
            copied = set(re.findall(r"\w+", plain(" ".join(line.partition(":")[2] for line in lines))))
            found |= {stem(w) for w in re.findall(r"[^\W\d_]+", plain(request)) if w not in copied}
    return frozenset(found)


PLACEHOLDER = re.compile(r"#\d+")
SAYING = _saying(EXAMPLES + POOL)
SAYING_WEIGHS = 0.3
"""What a task's word that requests also use to say what to do ("call", "set", "clean") weighs in naming the
task, against 1 for another word: "finished the paintng" must not name "finish the report" by its "finish"."""


MENTION_AT_LEAST = 0.65
PART_AT_LEAST = 0.35
"""How well a part of a task's name ("the vacuuming" of "vacuum the living room") must name it, its words
weighted: one telling word of a name of up to four, two of a longer one."""
PART_SCORES = 0.9
"""A part's likeness is counted at this much, so that where a whole name and a part of another meet, the whole
wins."""
PART_OWN = 0.85
"""How much of the words of a part must be the task's own: nearly all (a slip or another form of a word
allowed, never another word)."""


class Names:
    """The tasks of the list as the words of their names, each word weighted by how much it says: a word of
    the request's own kind ("call", "set") little, and a word several tasks share less than one of its own."""

    def __init__(self, tasks: list[TaskPublic]) -> None:
        self.words = {t.id: content_words(t.name) for t in tasks}
        self.weights = {i: [self._weight(w, i) for w in ws] for i, ws in self.words.items()}

    def _weight(self, word: str, owner: int) -> float:
        shared = sum(any(alike(word, w) > 0 for w in ws) for i, ws in self.words.items() if i != owner)
        return (SAYING_WEIGHS if stem(word) in SAYING else 1.0) / (1 + shared)

    def score(self, mine: list[str], task: TaskPublic) -> tuple[float, bool]:
        """How well words of the request name the task (0..1), and whether they name only part of it; a part
        counts when nearly all its words are the task's and they say enough: a word no other task has and
        that is not one of the words requests say what to do with ("the vacuuming", "called Zoë")."""
        theirs, weights = self.words[task.id], self.weights[task.id]
        pairs = _pairs(mine, theirs)
        paired = sum(score for score, _, _ in pairs)
        recall = paired / len(mine)
        whole = _harmonic(recall, paired / len(theirs)) if recall >= 0.5 else 0.0
        part = len(pairs) < len(theirs)
        if whole >= MENTION_AT_LEAST or not part:
            return whole, part
        # A word requests use to say what to do names a part only as itself: "called back" is no "backyard".
        pairs = [(score, i, j) for score, i, j in pairs if score == 1.0 or stem(mine[i]) not in SAYING]
        recall = sum(score for score, _, _ in pairs) / len(mine)
        cover = sum(score * weights[j] for score, _, j in pairs) / sum(weights)
        if recall >= PART_OWN and sum(weights[j] for _, _, j in pairs) >= 1.0:
            return _harmonic(recall, cover) * PART_SCORES, part
        return 0.0, part


def find_run(words: list[str], part: list[str]) -> int | None:
    """Where the words `part` stand together in `words` (each as `plain`), or None."""
    return next((i for i in range(len(words) - len(part) + 1) if words[i : i + len(part)] == part), None)
