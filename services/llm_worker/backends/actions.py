"""What the embedded model decides, and the exact part done in code: its few-shot prompt, the words of a
request it copies spans from, and the turning of its actions into commands against the list."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field

from proto.commands import (
    MAX_NAME,
    MAX_TASKS,
    TaskClearCompleted,
    TaskCreate,
    TaskDelete,
    TaskMove,
    TaskRename,
    TaskToggle,
)
from proto.messages import TaskPublic
from services.llm_worker.backends.base import CommandOut, InvalidCommand
from services.llm_worker.backends.pool import POOL
from services.llm_worker.backends.shots import EXAMPLES

VERBS = ("add", "finish", "remove", "rename", "top", "bottom", "clear", "none")
"""The model's choices; each is one token of Gemma's vocabulary, so one forward pass scores them all."""

SPANLESS = ("clear", "none")
TARGETED = ("finish", "remove", "rename", "top", "bottom")
RENAME_TO = " =>"
MAX_ACTIONS = 4


def request_text(text: str) -> str:
    """The person's request on one line (a newline in it must not read as the model's own lines)."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Word:
    """A word or a run of symbols of the request, and whether a space came before it."""

    text: str
    spaced: bool

    def as_next(self) -> str:
        return f" {self.text}" if self.spaced else self.text


_WORD = re.compile(r"#\d+|\w+(?:['’]\w+)*|[^\w\s'’]+|['’]")
"""A placeholder; a word, an apostrophe inside it ("Dave's", "don't") but not a quote around it ("'call
grandma'" is a quote, two words and a quote); a run of other symbols; a quote alone."""
_PUNCT = set("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'’…–—")


def words(text: str) -> list[Word]:
    """The request cut into the units the model copies: words, and runs of symbols (punctuation, emoji)."""
    out: list[Word] = []
    for found in _WORD.finditer(text):
        spaced = found.start() > 0 and text[found.start() - 1].isspace()
        out.append(Word(found.group(), spaced or not out))
    return out


def can_start(word: Word) -> bool:
    """Whether a span may begin at this word: not at bare punctuation, nor at a lone emoji (one just before
    a word joins that word's span)."""
    return not all(ch in _PUNCT for ch in word.text) and not is_symbol(word)


def is_symbol(unit: Word) -> bool:
    """An emoji or a pictograph (🍕, 📞, ✔; not an arrow or punctuation): it belongs to the words beside it."""
    kinds = {unicodedata.category(ch) for ch in unit.text}
    return "So" in kinds and kinds <= {"So", "Mn", "Cf", "Sk"}


@dataclass
class Action:
    """One line of the model's answer: a verb, the span of the request it names and, for a rename, the
    new name; `confidence` is the model's probability for the verb among the verbs."""

    verb: str
    span: str = ""
    new: str = ""
    task: TaskPublic | None = None
    confidence: float = 1.0
    alternatives: dict[str, float] = field(default_factory=dict)


_CLOSING = {")": "(", "]": "["}
_OPENING = {opener: closer for closer, opener in _CLOSING.items()}


def clean(span: str) -> str:
    """A span as a task name: single spaces, no punctuation at its ends (an emoji stays), but a bracket that
    closes one the name opens stays ("renew the permit (2025)"), as does one that opens a pair."""
    text = " ".join(span.split())
    while text:
        if text[0] in _PUNCT and not (text[0] in _OPENING and _OPENING[text[0]] in text):
            text = text[1:].strip()
        elif text[-1] in _PUNCT and not (text[-1] in _CLOSING and _CLOSING[text[-1]] in text):
            text = text[:-1].strip()
        else:
            break
    return text[:MAX_NAME]


def split_items(span: str) -> list[str]:
    """The items of a list in one span: "a, b and c" → a, b, c. A plain "a and b" stays one item (the model
    writes two lines when it means two): "write the summary and send it" is one task."""
    parts = [p for p in re.split(r"\s*[;,]\s*", span) if p.strip()]
    if len(parts) > 1:
        last = re.split(r"^(?:and|&)\s+|\s+(?:and|&)\s+", parts[-1])
        parts = parts[:-1] + [p for p in last if p.strip()]
        parts = [re.sub(r"^(?:and|&)\s+", "", p) for p in parts]
    return [c for c in (clean(p) for p in parts) if c]


# ---- matching a span to the list ----------------------------------------------------------------------

_STOP = frozenset(
    "the a an my our your to of for on in at from with it its off this that these those one list item items "
    "task thing things stuff please is are was be about up and or by as into onto".split()
)


def _plain(text: str) -> str:
    """Case and accents folded: "Crème" and "creme" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def content_words(text: str) -> list[str]:
    found = re.findall(r"\w+", _plain(text).replace("'s", ""))
    kept = [w for w in found if w not in _STOP]
    return kept or found


def stem(word: str) -> str:
    """A word without its ending (-ing, -ed, -es, -s, -ies), a final e or a doubled last consonant, so that the
    forms of a word meet: "vacuuming", "vacuumed" → "vacuum"; "called", "call" → "cal"; "mopped" → "mop"."""
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


def _misspelt(a: str, b: str) -> bool:
    """One slip in a word of four letters or more (a letter dropped, added, changed or two swapped; in a word of
    four, not a letter changed: "rent" is not "tent"), two in one of eight or more: "appointmnet", "problm"."""
    shortest = min(len(a), len(b))
    allowed = 2 if shortest >= 8 else 1 if shortest >= 4 else 0
    if shortest == 4 and len(a) == len(b) and sorted(a) != sorted(b):
        return False
    return allowed > 0 and abs(len(a) - len(b)) <= allowed and edits(a, b) <= allowed


def _alike(a: str, b: str, strict: bool = False) -> float:
    """How alike two words are: the same, a plural, another form of the same word (mow/mowed, vacuuming/vacuum;
    not when `strict`, for "vacuumed" says more than "vacuum"), or misspelled (landry, finsihed)."""
    if a == b or a in (b + "s", b + "es") or b in (a + "s", a + "es"):
        return 1.0
    if stem(a) == stem(b):
        return 0.0 if strict else 0.9
    if _misspelt(a, b):
        return 0.85
    short, long = sorted((a, b), key=len)
    if len(short) >= 3 and long.startswith(short[: max(3, len(short) - 1)]):
        return 0.0 if strict else 0.9
    if not strict and _misspelt(stem(a), stem(b)):
        return 0.8
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    return ratio if ratio >= (0.8 if strict else 0.75) else 0.0


def _pairs(these: list[str], those: list[str], strict: bool = False) -> list[tuple[float, int, int]]:
    """The best one-to-one pairing of two lists of words (greedy): (likeness, index in these, index in those)."""
    pairs = sorted(
        ((_alike(a, b, strict), i, j) for i, a in enumerate(these) for j, b in enumerate(those)), reverse=True
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
    if _plain(span).strip() == _plain(name).strip():
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
            copied = set(re.findall(r"\w+", _plain(" ".join(line.partition(":")[2] for line in lines))))
            found |= {stem(w) for w in re.findall(r"[^\W\d_]+", _plain(request)) if w not in copied}
    return frozenset(found)


PLACEHOLDER = re.compile(r"#\d+")
SAYING = _saying(EXAMPLES + POOL)
SAYING_WEIGHS = 0.3
"""What a task's word that requests also use to say what to do ("call", "set", "clean") weighs in naming the
task, against 1 for another word: "finished the paintng" must not name "finish the report" by its "finish"."""


@dataclass(frozen=True)
class Mention:
    """Where the request names a task of the list: words `start` to `end` (exclusive); `marks` is the part
    the placeholder stands for (a changed form at an edge, "vacuumed" for "vacuum", stays in view)."""

    start: int
    end: int
    task: TaskPublic
    score: float
    marks: tuple[int, int]


MENTION_AT_LEAST = 0.65
PART_AT_LEAST = 0.35
"""A part of a task's name ("the vacuuming" of "vacuum the living room") scores less than the whole would: one
word of a name of up to four, two of a longer one."""
PART_OWN = 0.85
"""How much of the words of a part must be the task's own: nearly all (a slip or another form of a word
allowed, never another word)."""


def _content(unit: Word) -> bool:
    """Whether a mention may begin or end at this word: a word with a letter or digit, not "the" or "to"."""
    return any(ch.isalnum() for ch in unit.text) and _plain(unit.text) not in _STOP


def _marks(units: list[Word], start: int, end: int, name: str) -> tuple[int, int]:
    """The words of a mention that are the task's own words (or misspelt), not another form of them."""
    theirs = content_words(name)
    same = [
        i
        for i in range(start, end)
        if any(_alike(w, t, strict=True) > 0 for w in content_words(units[i].text) for t in theirs)
        and _content(units[i])
    ]
    return (same[0], same[-1] + 1) if same else (start, end)


class Names:
    """The tasks of the list as the words of their names, each word weighted by how much it says: a word of
    the request's own kind ("call", "set") little, and a word several tasks share less than one of its own."""

    def __init__(self, tasks: list[TaskPublic]) -> None:
        self.words = {t.id: content_words(t.name) for t in tasks}
        self.weights = {i: [self._weight(w, i) for w in ws] for i, ws in self.words.items()}

    def _weight(self, word: str, owner: int) -> float:
        shared = sum(any(_alike(word, w) > 0 for w in ws) for i, ws in self.words.items() if i != owner)
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
        cover = sum(score * weights[j] for score, _, j in pairs) / sum(weights)
        if recall >= PART_OWN and sum(weights[j] for _, _, j in pairs) >= 1.0:
            return _harmonic(recall, cover) * 0.9, part
        return 0.0, part


def _modifies(units: list[Word], at: int, task_words: list[str], after: bool) -> bool:
    """Whether the word beside a part of a task's name (word `at`, just before it, or after it and an article)
    is another word of the same thing, so that the part only describes it: "dog food", "oat milk", "paint the
    house" are not "walk the dog", "almond milk", "paint the fence"."""
    while after and at < len(units) and _plain(units[at].text) in DETERMINERS:
        at += 1
    if not 0 <= at < len(units) or not units[at].text.isalpha():
        return False
    word = _plain(units[at].text)
    if word in _STOP or stem(word) in SAYING:
        return False
    return not any(_alike(word, t) > 0 for t in task_words)


DETERMINERS = frozenset("the a an my your our his her their its this that these those some".split())


def find_mentions(units: list[Word], tasks: list[TaskPublic]) -> list[Mention]:
    """The places the request names tasks of the list, none overlapping and each task once (its best place: in
    "rename milk to skim milk" the second "milk" is the new name's): a window of words alike the task's name
    (stems, typos, accents and word order forgiven), or alike a telling part of it ("the vacuuming")."""
    names = Names(tasks)
    found = []
    for task in tasks:
        size = len(content_words(task.name))
        for i, first in enumerate(units):
            if not _content(first):
                continue
            for j in range(i + 1, min(len(units), i + 2 * size + 2) + 1):
                if not _content(units[j - 1]):
                    continue
                span = "".join(u.as_next() for u in units[i:j])
                if _plain(span).strip() == _plain(task.name).strip():
                    score, part = 1.0, False
                else:
                    score, part = names.score(content_words(span), task)
                if score < (PART_AT_LEAST if part else MENTION_AT_LEAST):
                    continue
                marks = _marks(units, i, j, task.name)
                # A name of one word is a part too of what it describes: "milk chocolate" is not "milk".
                if (part or size == 1) and _modifies(units, marks[1], names.words[task.id], part):
                    continue
                if part and _modifies(units, marks[0] - 1, names.words[task.id], False):
                    continue
                found.append(Mention(i, j, task, score, marks))
    chosen: list[Mention] = []
    for mention in sorted(found, key=lambda m: (-m.score, m.start, m.end)):
        apart = all(mention.end <= c.start or mention.start >= c.end for c in chosen)
        if apart and all(c.task.id != mention.task.id for c in chosen):
            chosen.append(mention)
    return sorted(chosen, key=lambda m: m.start)


def masked(units: list[Word], mentions: list[Mention]) -> tuple[list[Word], dict[str, tuple[TaskPublic, str]]]:
    """The request with each named task as a placeholder (#1, #2 … one per task), and what each stands for:
    the model then reads the action's own words, and knows which words are already on the list."""
    out: list[Word] = []
    places: dict[str, tuple[TaskPublic, str]] = {}
    numbers: dict[int, str] = {}
    at = 0
    for mention in mentions:
        first, last = mention.marks
        out += units[at:first]
        mark = numbers.setdefault(mention.task.id, f"#{len(numbers) + 1}")
        original = "".join(u.as_next() for u in units[first:last]).strip()
        places.setdefault(mark, (mention.task, original))
        out.append(Word(mark, units[first].spaced))
        at = last
    return out + units[at:], places


# ---- actions into commands ----------------------------------------------------------------------------


class Planner:
    """Turns the model's actions into commands, in order, against a working copy of the list, so that a later
    action of the same request sees what the earlier ones did ("remove milk and eggs")."""

    def __init__(self, tasks: list[TaskPublic]) -> None:
        self.tasks = sorted(tasks, key=lambda t: t.position)
        self.length = len(self.tasks)
        self.added: set[str] = set()

    def commands(self, action: Action) -> list[CommandOut | InvalidCommand]:
        verb = action.verb
        if verb == "none":
            return []
        if verb == "clear":
            self.tasks = [t for t in self.tasks if not t.done]
            self.length = len(self.tasks)
            return [CommandOut(TaskClearCompleted())]
        raw = f"{verb}: {action.span}" + (f" => {action.new}" if verb == "rename" else "")
        if verb == "add":
            # An item the same request already added is not added twice ("add milk … and milk").
            items = [i for i in split_items(action.span) if _plain(i) not in self.added]
            self.added |= {_plain(i) for i in items}
            self.length += len(items)
            if not items:
                return [] if action.span.strip() else [InvalidCommand(raw, "the action names no item", op="create")]
            return [CommandOut(TaskCreate(name=item)) for item in items]
        if verb == "rename":
            return [self._rename(action, raw)]
        out: list[CommandOut | InvalidCommand] = []
        for task in self._targets(action, raw, out):
            out.append(self._targeted(verb, task, raw))
        return out

    def _targets(self, action: Action, raw: str, out: list[CommandOut | InvalidCommand]) -> list[TaskPublic]:
        """The tasks an action names: the one its placeholder stands for, else those its span names (one
        task, else each item of a list of them)."""
        if action.task is not None:
            held = [t for t in self.tasks if t.id == action.task.id]
            if not held:
                out.append(InvalidCommand(raw, f"“{action.task.name}” is no longer on the list"))
            return held
        span = action.span
        whole = match_task(span, self.tasks)
        if whole is not None:
            return [whole]
        found: list[TaskPublic] = []
        for item in split_items(span):
            task = match_task(item, [t for t in self.tasks if t not in found])
            if task is None:
                out.append(InvalidCommand(raw, f"there is no “{clean(item) or span}” on the list"))
            else:
                found.append(task)
        return found

    def _targeted(self, verb: str, task: TaskPublic, raw: str) -> CommandOut | InvalidCommand:
        if verb == "remove":
            self.tasks.remove(task)
            self.length -= 1
            return CommandOut(TaskDelete(id=task.id))
        if verb == "top":
            return CommandOut(TaskMove(id=task.id, position=0))
        if verb == "bottom":
            return CommandOut(TaskMove(id=task.id, position=min(MAX_TASKS, max(self.length - 1, 0))))
        if task.done:
            return InvalidCommand(raw, f"“{task.name}” is already done", op="toggle")
        self.tasks[self.tasks.index(task)] = task.model_copy(update={"done": True})
        return CommandOut(TaskToggle(id=task.id))

    def _rename(self, action: Action, raw: str) -> CommandOut | InvalidCommand:
        held = [t for t in self.tasks if action.task is not None and t.id == action.task.id]
        task = held[0] if held else match_task(action.span, self.tasks)
        new = clean(action.new)
        if task is None:
            return InvalidCommand(raw, f"there is no “{clean(action.span)}” on the list", op="rename")
        if not new:
            return InvalidCommand(raw, "the rename gives no new name", op="rename")
        self.tasks[self.tasks.index(task)] = task.model_copy(update={"name": new})
        return CommandOut(TaskRename(id=task.id, new_name=new))
