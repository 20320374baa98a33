"""The tasks a request names, found in code: windows of its words alike a task's name or a telling part of it,
each task once, and the request as the model reads it, each named task as a placeholder (#1, #2 …)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import STATING, Word, is_symbol
from services.llm_worker.backends.cues import ACTING, DONE
from services.llm_worker.backends.matching import (
    MENTION_AT_LEAST,
    PART_AT_LEAST,
    SAYING,
    STOP,
    Names,
    alike,
    content_words,
    plain,
    stem,
)
from services.llm_worker.backends.spans import DETERMINERS, TICKS, TRAILING, WHERE, ordinal


@dataclass(frozen=True)
class Mention:
    """Where the request names a task of the list: words `start` to `end` (exclusive); `marks` is the part
    the placeholder stands for (a changed form at an edge, "vacuumed" for "vacuum", stays in view)."""

    start: int
    end: int
    task: TaskPublic
    score: float
    marks: tuple[int, int]


def _content(unit: Word) -> bool:
    """Whether a mention may begin or end at this word: a word with a letter or digit, not "the" or "to"."""
    return any(ch.isalnum() for ch in unit.text) and plain(unit.text) not in STOP


def _marks(units: list[Word], start: int, end: int, name: str) -> tuple[int, int]:
    """The words of a mention that are the task's own words (or misspelt), not another form of them."""
    theirs = content_words(name)
    same = [
        i
        for i in range(start, end)
        if any(alike(w, t, strict=True) > 0 for w in content_words(units[i].text) for t in theirs)
        and _content(units[i])
    ]
    return (same[0], same[-1] + 1) if same else (start, end)


BETWEEN_THINGS = frozenset(
    "before after until till during over under near around through without within across between behind beside "
    "via per than".split()
)


_SPARING = frozenset("except excluding keep leave".split())


def _acted_on(units: list[Word], at: int) -> bool:
    """Whether the words from `at` follow a word of acting on a task, past articles ("cancel the dentist"), or of
    leaving one as it is ("everything except salsa")."""
    at -= 1
    while at >= 0 and plain(units[at].text) in DETERMINERS:
        at -= 1
    return at >= 0 and (stem(plain(units[at].text)) in ACTING or plain(units[at].text) in _SPARING)


def said_done(units: list[Word], at: int) -> bool:
    """Whether the words from `at` say that what comes before them is done ("that call is done", "the email's
    finished"): the thing done is a task, its name's first word as the deed ("call insurance company")."""
    while at < len(units) and plain(units[at].text) in STATING | {"'s", "’s", "now", "already", "all"}:
        at += 1
    return at < len(units) and stem(plain(units[at].text)) in DONE


def _describes(mine: list[str], name: str) -> bool:
    """Whether words of the request pair only with words of a task's name that describe the next word of it, a
    word of its own: "coffee" of "coffee filters", "dog" of "dog food", "library" of "renew library card" (the
    thing is the filters, the food, the card; "the vet's" "appointment" as much)."""
    theirs = re.findall(r"[\w'’]+|[^\w\s]", plain(name))
    paired = [j for j, word in enumerate(theirs) if any(alike(w, word) > 0 for w in mine)]
    # Another form of the word says it is done, not what it is ("done w/ mopping" of "mop floors").
    if any(0 < alike(w, theirs[j]) < 1 for j in paired for w in mine):
        return False
    if not paired or paired[-1] + 1 >= len(theirs) or len(paired) > 1:  # "the amazon return" of "return Amazon …"
        return False
    after = theirs[paired[-1] + 1]
    return after.isalpha() and after not in STOP | BETWEEN_THINGS and not any(alike(w, after) > 0 for w in mine)


HOLDING = frozenset(
    "have has having want wants wanted keep keeps use uses see saw found like love hate gone done over".split()
)
"""Verbs of having and wanting, and words of a state, beside a thing: they say nothing of what it is ("we have
scissors at home", "bread gone")."""
AROUND = BETWEEN_THINGS | {"around", "round"}
"""Words of where, beside a thing, say nothing of what it is ("switch shower and coffee around")."""


def _modifies(units: list[Word], at: int, task_words: list[str], past_articles: bool, before: bool = False) -> bool:
    """Whether word `at`, beside a task's name or a part of it (the first word past articles, with
    `past_articles`), is another word of the thing the name only describes: "dog food", "oat milk", "paint the
    house" are not "walk the dog", "almond milk", "paint the fence"."""
    while past_articles and at < len(units) and plain(units[at].text) in DETERMINERS:
        at += 1
    if not 0 <= at < len(units) or not units[at].text.isalpha():
        return False
    word = plain(units[at].text)
    if word in STOP | WHERE | HOLDING | TRAILING | AROUND | _SPARING or stem(word) in SAYING:
        return False
    # A word that ends as a verb does says what is done to it ("texted Zoë", "scrubbed bathroom", "fence painted").
    if word.endswith(("ed", "ing")) and stem(word) != word:
        return False
    # After it, a word of manner or time says how, not what ("the gate obviously"; "jelly beans" is another thing).
    if not before and word.endswith("ly") and len(word) > 4:
        return False
    return not any(alike(word, t) > 0 for t in task_words)


FRAMES = frozenset("item task entry one thing todo to-do line".split())


BY_NUMBER = frozenset("number no item task entry line".split())
_TOWARDS = frozenset("to at into in onto as".split())  # "move #4 to #1": a place, not a task
_BY_PLACE = frozenset("move delete remove tick untick check uncheck rename finish finished done did completed".split())
_SPOTS = frozenset("position spot place slot".split())  # "put it in spot #2", "as item #3": a place
_BECOMING = frozenset("make makes be is are become becomes".split())
_SAID = {w: str(n) for n, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_INTO = frozenset("to into → -> =>".split())
_BARE_AFTER = frozenset("one's and is was 's to off done finished too as please from".split())


def _done_after(units: list[Word], at: int) -> bool:
    """Whether the words from `at` are places joined to the one before and then a word of being done ("and 2
    done", "done", ", 3 are finished")."""
    while at + 1 < len(units) and units[at].text.casefold() in ("and", ",", "&") and units[at + 1].text.isdigit():
        at += 2
    return said_done(units, at)


def _bare(units: list[Word], i: int, after: str) -> bool:
    """A place said with no frame after "the" ("delete the third", "the second one's finished"): at its clause's
    end, or before a word that says what becomes of it; not of a thing pointed at ("make it the first")."""
    before = [plain(u.text) for u in units[max(i - 2, 0) : i]]
    ends = not after or not after[0].isalnum() or after in _BARE_AFTER
    return before[-1:] == ["the"] and before[:1] not in (["it"], ["that"], ["this"]) and ends


def by_position(units: list[Word], tasks: list[TaskPublic]) -> list[Mention]:
    """The tasks a request names by their place on the list: "#3", "number 2", "item 4", "the second one",
    "the 2nd item", "the last one" (each a mention as sure as a name said whole); not a place a move puts a task
    at ("move #4 to #1", "make it the second one", "make pay rent the first one")."""
    ordered = sorted(tasks, key=lambda t: t.position)
    named = {w for task in tasks for w in content_words(task.name)}  # "make #1 the first one": a place
    found: list[Mention] = []
    for i, unit in enumerate(units):
        word = plain(unit.text)
        back = i - 1
        while back >= 0 and plain(units[back].text) in DETERMINERS | BY_NUMBER | _SPOTS | {":"}:  # "done: 1, 3"
            back -= 1
        before = plain(units[back].text) if back >= 0 else ""
        after = plain(units[i + 1].text) if i + 1 < len(units) else ""
        at, end = None, i + 1
        if (number := re.fullmatch(r"#(\d+)", unit.text)) and before not in _TOWARDS:
            at = int(number.group(1)) - 1
        elif word in BY_NUMBER and (after.isdigit() or after in _SAID) and before not in _TOWARDS:
            at, end = int(_SAID.get(after, after)) - 1, i + 2  # "number 2", "item three"
        elif word.isdigit() and before in _BY_PLACE and i == back + 1 + (units[i - 1].text == ":"):  # "delete 3"
            at = int(word) - 1
        elif word.isdigit() and before in ("and", ",", "&") and found and found[-1].end == i - 1:
            at = int(word) - 1  # "finished 2 and 3": a place listed after one
        elif word.isdigit() and (i == 0 or units[i - 1].text in ".,;!") and _done_after(units, i + 1):
            at = int(word) - 1  # "1 and 2 done, delete 3"
        elif (after in FRAMES or _bare(units, i, after)) and before not in _TOWARDS | _BECOMING | named:
            if word == "last":
                at = len(ordered) - 1
            elif (n := 0 if word == "first" else ordinal(word)) is not None:
                at = n
            end = i + 1 + (after in FRAMES or after == "one's")
        if at is not None and 0 <= at < len(ordered):
            found.append(Mention(i, end, ordered[at], 1.0, (i, end)))
    return found


_ENDS = {"first": True, "top": True, "last": False, "bottom": False}
_SEVERAL = {"two": 2, "three": 3, "2": 2, "3": 3}
_PLURAL_FRAMES = frozenset("ones items tasks things entries".split())


def spelt_out(units: list[Word], tasks: list[TaskPublic]) -> list[Word]:
    """The request with the tasks it names by places together ("done with the first two", "delete the last 3
    items", "the first and third are done") said one by one, "number 1 and number 2", so that each is named by
    its place as one task would be."""
    out: list[Word] = []
    i = 0
    while i < len(units):
        word, count = plain(units[i].text), _SEVERAL.get(plain(units[i + 1].text)) if i + 1 < len(units) else None
        end = i + 2 + (i + 2 < len(units) and plain(units[i + 2].text) in _PLURAL_FRAMES)
        alone = end >= len(units) or not _content(units[end])  # not "the first two chapters"
        if word in _ENDS and count is not None and count <= len(tasks) and alone:
            first = 1 if _ENDS[word] else len(tasks) - count + 1
            out += _numbers(list(range(first, first + count)), units[i].spaced)
            i = end
        elif (pair := _ordinals(units, i, len(tasks))) is not None:
            out += _numbers(pair[0], units[i].spaced)
            i = pair[1]
        else:
            out.append(units[i])
            i += 1
    return out


def _numbers(places: list[int], spaced: bool) -> list[Word]:
    out: list[Word] = []
    for n, place in enumerate(places):
        out += [Word("and", True)] if n else []
        out += [Word("number", spaced if not n else True), Word(str(place), True)]
    return out


def _ordinals(units: list[Word], i: int, size: int) -> tuple[list[int], int] | None:
    """Places said as ordinals joined by "and", with no frame ("the first and third"): each as a number (1 is
    the top), and where the words end; none where a word of their own follows ("the first and second drafts")."""

    def place(j: int) -> int | None:
        word = plain(units[j].text) if j < len(units) else ""
        n = 0 if word == "first" else size - 1 if word == "last" else ordinal(word)
        return n if n is not None and 0 <= n < size else None

    first, j = place(i), i + 2 + (i + 2 < len(units) and plain(units[i + 2].text) in DETERMINERS)
    if first is None or i + 1 >= len(units) or plain(units[i + 1].text) != "and" or (second := place(j)) is None:
        return None
    framed = j + 1 < len(units) and plain(units[j + 1].text) in _PLURAL_FRAMES | FRAMES  # "… ones done": ends there
    end = j + 1 + framed
    return ([first + 1, second + 1], end) if framed or end == len(units) or not _content(units[end]) else None


def by_symbol(units: list[Word], tasks: list[TaskPublic]) -> list[Mention]:
    """The tasks a request names by an emoji of their name alone ("🌷 to the top" of "🌷 plant tulips"): one in
    only one task's name, with no word of its own after it (not "add 🐶 walk the dog")."""
    found = []
    for i, unit in enumerate(units):
        owners = [t for t in tasks if unit.text in t.name] if is_symbol(unit) and unit.text not in TICKS else []
        ahead = units[i + 1] if i + 1 < len(units) else None
        if len(owners) == 1 and (ahead is None or not _content(ahead)):
            found.append(Mention(i, i + 1, owners[0], 0.9, (i, i + 1)))
    return found


def find_mentions(units: list[Word], tasks: list[TaskPublic]) -> list[Mention]:
    """The places the request names tasks of the list, none overlapping and each task once (its best place: in
    "rename milk to skim milk" the second "milk" is the new name's): a window of words alike the task's name
    (stems, typos, accents and word order forgiven), or alike a telling part of it ("the vacuuming")."""
    names = Names(tasks)
    found = by_position(units, tasks) + by_symbol(units, tasks)
    for task in tasks:
        size = len(content_words(task.name))
        own = set(re.findall(r"[\w-]+", plain(task.name)))
        for i, first in enumerate(units):
            if not _content(first):
                continue
            for j in range(i + 1, min(len(units), i + 2 * size + 2) + 1):
                # A word that frames a reference ends it: "the report task to finish …" names no "finish the report".
                if j - 1 > i and plain(units[j - 2].text) in FRAMES - own:
                    break
                # Nor does it run over the word a new name follows ("change restaurant to book table" of "book
                # restaurant": "restaurant", then the new name).
                if j - 1 > i and plain(units[j - 1].text) in _INTO - own:
                    break
                if not _content(units[j - 1]):
                    continue
                span = "".join(u.as_next() for u in units[i:j])
                if plain(span).strip() == plain(task.name).strip():
                    score, part = 1.0, False
                else:
                    score, part = names.score(content_words(span), task)
                # "the ground beef item" names a task by its words, however long its name: a part is enough (and
                # "the grocery one" is as sure as "groceries" said again after it, in the new name).
                framed = j < len(units) and plain(units[j].text) in FRAMES
                if score < (PART_AT_LEAST / (2 if framed else 1) if part else MENTION_AT_LEAST):
                    continue
                if (
                    part
                    and not framed
                    and not (_acted_on(units, i) or said_done(units, j))
                    and _describes(content_words(span), task.name)
                ):
                    continue
                marks = _marks(units, i, j, task.name)
                # A part of a name names nothing beside another word of the thing it describes; nor does a
                # name of one word, directly before one ("milk chocolate" is not "milk").
                if (part or size == 1) and _modifies(units, marks[1], names.words[task.id], part):
                    continue
                if part and _modifies(units, marks[0] - 1, names.words[task.id], False, before=True):
                    continue
                # A reference in so many words is as sure as the whole name said elsewhere ("rename the report
                # task to finish the report and …": the second is the new name's).
                found.append(Mention(i, j, task, 1.0 if framed else score, marks))
    chosen: list[Mention] = []
    for mention in sorted(found, key=lambda m: (-m.score, m.start, m.end)):
        apart = all(mention.end <= c.start or mention.start >= c.end for c in chosen)
        if apart and all(c.task.id != mention.task.id for c in chosen):
            chosen.append(mention)
    return sorted(chosen, key=lambda m: m.start)


Places = dict[str, tuple[TaskPublic, str]]
"""The placeholders of a request, each with the task it stands for and the words of the request it hides."""


def masked(units: list[Word], mentions: list[Mention]) -> tuple[list[Word], Places]:
    """The request with each named task as a placeholder (#1, #2 … one per task), and what each stands for:
    the model then reads the action's own words, and knows which words are already on the list."""
    out: list[Word] = []
    places: Places = {}
    numbers: dict[int, str] = {}
    at = 0
    for mention in mentions:
        first, last = mention.marks
        out += _places(units[at:first])
        mark = numbers.setdefault(mention.task.id, f"#{len(numbers) + 1}")
        original = "".join(u.as_next() for u in units[first:last]).strip()
        places.setdefault(mark, (mention.task, original))
        out.append(Word(mark, units[first].spaced))
        at = last
    return out + _places(units[at:]), places


def _places(units: list[Word]) -> list[Word]:
    """A "#2" that names no task is a place ("move #4 to #2"), written "number 2": the placeholders are "#1",
    "#2" … and must not be mistaken for it. A number no list reaches is no place ("PO #4471") and stays."""
    out = []
    for unit in units:
        if (number := re.fullmatch(r"#(\d+)", unit.text)) and int(number.group(1)) < 100:
            out += [Word("number", unit.spaced), Word(number.group(1), True)]
        else:
            out.append(unit)
    return out
