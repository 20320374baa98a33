"""A part of a task's name corrected in code: "we drink whole milk not 2%, fix that", "make the milk 3 liters
instead of 2", "instead of Bob put Rob", "in the priya task swap 1:1 for sync", "pt in bed 9 got moved to bed 11",
"receive is spelled wrong in the package one". The request says the new words and the old ones; the old ones stand
in exactly one task's name, and only they are replaced there ("buy 2% milk" becomes "buy whole milk": the "milk"
said again is the name's own).
The model, which leans to ticking a task named, would copy the words after the task as its new name."""

from __future__ import annotations

import re

from proto.messages import TaskPublic
from services.llm_worker.backends import times
from services.llm_worker.backends.actions import ABBREVIATIONS, Word, clean
from services.llm_worker.backends.matching import STOP, find_run, misspelt, plain, stem, unaccented
from services.llm_worker.backends.mentions import Places
from services.llm_worker.backends.spans import ordinal, quoted, without_reference

CORRECTING = frozenset("fix actually wait oops meant mean wrong should correct rename change".split())
"""Words that say a name is being put right: with one of them, "A not B" corrects B to A."""


_ENDS = ",.;!?—–"


def corrected(units: list[Word], tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """The task a request corrects a part of, and its new name; none where it says no such thing. Read word by
    word as written between spaces ("2%," is the name's "2%" at a clause's end)."""
    written = "".join(u.as_next() for u in units).split()
    said = [plain(w.strip(_ENDS)) for w in written]
    for k, word in enumerate(said):
        instead = word == "instead" and said[k + 1 : k + 2] == ["of"]
        if not (instead or (word == "not" and CORRECTING.intersection(said))):
            continue
        start = k + (2 if instead else 1)
        end = next((j + 1 for j in range(start, len(written)) if _ends_old(written[j])), len(written))
        old = [w for w in said[start:end] if w]  # a dash ends the old words ("not Jake — fix …")
        found = [(task, at) for task in tasks if old and (at := find_run(_bare_words(task.name), old)) is not None]
        if len(found) != 1 or written[k - 1][-1:] in tuple(_ENDS.replace(",", "")):  # "it's Jacob, not Jake"
            continue
        task, at = found[0]
        name = task.name.split()
        if len(old) == 1 and times.kind(old[0]) is not None and not old[0].isdigit():  # not "instead of 6"
            # A day, date or time is put right by another of its kind, wherever it is said ("oops i meant tuesday
            # for the vet not thursday", "it's not tuesday, the meeting is on wednesday"); not by one of several.
            if (other := _same_kind(said, old[0], range(start, end))) is None:
                continue
            new_word = written[other].strip(_ENDS)
            if name[at][:1].isupper():
                new_word = new_word[:1].upper() + new_word[1:]
            return task, " ".join([*name[:at], new_word, *name[at + 1 :]])
        # The words said again around the new ones are the name's own ("whole milk" of "buy 2% milk").
        before, after = said[:k], [plain(w) for w in name[at + len(old) :]]
        while before and after and before[-1] == after[0]:
            before, after = before[:-1], after[1:]
        first = len(before) - len(old)
        first -= said[first : len(before)] == old  # "duct tape not tape": the old word said again, with one more
        new = written[first : len(before)] if first >= 0 else []
        if not new or any(plain(w) in STOP for w in new):
            continue
        return task, " ".join([*name[:at], *(_word_out(w) for w in new), *name[at + len(old) :]])
    return None


def _ends_old(word: str) -> bool:
    """Whether the old words end with this one: at a mark of a clause's end, not at an abbreviation ("Dr.")."""
    return word[-1] in _ENDS and plain(word).rstrip(".") not in ABBREVIATIONS


def _word_out(word: str) -> str:
    """A word of the new name as written, without the marks around it ("Dr." keeps its full stop)."""
    return word.rstrip(",;!?—–") if plain(word).rstrip(".") in ABBREVIATIONS else word.strip(_ENDS)


def _bare_words(name: str) -> list[str]:
    return [w.strip(_ENDS) for w in plain(name).split()]


def _same_kind(said: list[str], old: str, apart: range) -> int | None:
    """Where the request says the one other day, date or time of the old word's kind; none where there is no
    such word, or several."""
    others = {j for j, w in enumerate(said) if j not in apart and w != old and times.kind(w) == times.kind(old)}
    return others.pop() if len(others) == 1 else None


SWAPPING = {"swap": "for with", "switch": "to for with", "replace": "with by", "change": "to into"}
"""Words of replacing, each with the words between the old part and the new ("swap 1:1 for sync"); "change B to A"
only where the request names the task apart from B ("change buy to return in the shoes task"): else B is the
task itself ("change the dentist to 4:30")."""
OTHERS = frozenset("add remove delete move tick untick check uncheck mark clear done finished top bottom".split())
"""Words of another operation: a request that says one beside the old words is the model's to read."""
_CHANGED = frozenset("changed moved switched pushed bumped".split())
_PUTTING = frozenset("put write use make".split())
_ARROWS = frozenset("→ -> =>".split())
PLACES = frozenset("top bottom first last start end".split())
"""New words that are a place on the list: "#1 → 1st" moves it."""
_DETERMINERS = frozenset("the a an my".split())
_NOT_NAMES = frozenset("at on in for to by done finished complete completed urgent due top first last".split())
"""Words after "B is now" that say how the task stands, not what it is called ("the meeting is now at 4")."""


def replaced(units: list[Word], tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """A part of one task's name replaced by new words: "swap B for A (in the … task)", "instead of B put A",
    "B got changed to A", "B is now A". B must stand in exactly one name, as a part of it (a whole name renamed is
    the model's to read); A runs to its clause's end, less a reference to the task ("… on the apply one",
    spans.without_reference)."""
    written = "".join(u.as_next() for u in units).split()
    said = [plain(w.strip(_ENDS)) for w in written]
    for k, word in enumerate(said):
        old = new = None
        linking = SWAPPING.get(word, "").split()
        if linking and (c := next((j for j in range(k + 2, len(said)) if said[j] in linking), None)):
            old, new = (k + 1, c), (c + 1, _clause_end(written, c + 1))
        elif word == "instead" and said[k + 1 : k + 2] == ["of"] and k + 3 < len(said):
            at = next((j for j in range(k + 2, len(said)) if said[j] in _PUTTING), None)
            if at is not None:
                old, new = (k + 2, at), (at + 1, _clause_end(written, at + 1))
        elif word in _ARROWS and k > 0:  # "fix flos → floss"
            old, new = (_phrase_start(written, k), k), (k + 1, _clause_end(written, k + 1))
        elif word == "got" and said[k + 1 : k + 3] in ([c, "to"] for c in _CHANGED):
            old, new = (_phrase_start(written, k), k), (k + 3, _clause_end(written, k + 3))
        elif word == "is" and said[k + 1 : k + 2] == ["now"] and not _NOT_NAMES.intersection(said[k + 2 : k + 3]):
            old, new = (_phrase_start(written, k), k), (k + 2, _clause_end(written, k + 2))  # "Sarah is now Sara"
        if old is None or new is None or OTHERS.intersection(said[: old[0]] + said[old[1] :]):
            continue
        found = _part_of_one(said, old, tasks)
        text = " ".join(_bare(w) for w in written[new[0] : new[1]])
        words = _without_article(without_reference(text).split())
        if word == "change" and found and without_reference(text) == text and not _names(found[0], "", said[:k], {}):
            continue
        place = len(words) == 1 and (plain(words[0]) in PLACES or ordinal(plain(words[0])) is not None)
        if found is not None and words and not place and not all(plain(w) in STOP for w in words):
            task, at, size = found
            name = task.name.split()
            # New words that say the name's words around the old part again are the whole new name ("edit eggs ->
            # buy eggs and milk" of "buy eggs").
            if {plain(w) for w in name} <= {plain(w) for w in words}:  # "landlord email -> email landlord re: leak"
                return task, " ".join(words)
            head = [] if [plain(w) for w in words[:at]] == [plain(w) for w in name[:at]] else name[:at]
            return task, " ".join([*head, *words, *name[at + size :]])
    return None


_SUBSTITUTE = re.compile(r"(?:^|\s)s/([^/]+)/([^/]+)/?(?=\s|$)")


def substituted(units: list[Word], tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """A part of one task's name replaced as an editor writes it: "s/staging/prod/ in deploy to staging"."""
    found = _SUBSTITUTE.search("".join(u.as_next() for u in units))
    if found is None:
        return None
    old = [plain(w) for w in found.group(1).split()]
    held = _part_of_one(old, (0, len(old)), tasks)
    if held is None:
        return None
    task, at, size = held
    name = task.name.split()
    return task, " ".join([*name[:at], found.group(2).strip(), *name[at + size :]])


def _clause_end(written: list[str], start: int) -> int:
    """Where the clause of word `start` ends (the stop of "Dr." ends none)."""
    return next((j + 1 for j in range(start, len(written)) if _ends(written[j])), len(written))


def _ends(word: str) -> bool:
    return word[-1] in _ENDS and not (word[-1] == "." and plain(word[:-1]) in ABBREVIATIONS)


def _bare(word: str) -> str:
    return word if word.endswith(".") and plain(word[:-1]) in ABBREVIATIONS else word.strip(_ENDS)


def _phrase_start(written: list[str], at: int) -> int:
    """Where the words before `at` begin, within their clause ("so the cake tasting got …": "the")."""
    start = at
    while start > 0 and not _ends(written[start - 1]):
        start -= 1
    return start


def _part_of_one(said: list[str], span: tuple[int, int], tasks: list[TaskPublic]) -> tuple[TaskPublic, int, int] | None:
    """The one task whose name holds the words of `span` (or the longest run of their last words that one name
    holds), less articles and quote marks, as a strict part: the task, where they stand in it, how many."""
    words = [w.strip("'\"‘’“”") for w in said[span[0] : span[1]]]
    while words and words[0] in _DETERMINERS:
        words = words[1:]
    for first in range(len(words)):
        old = words[first:]
        found = [
            (t, at)
            for t in tasks
            if (at := find_run([w.strip(_ENDS + "()") for w in plain(t.name).split()], old)) is not None
        ]
        if len(found) == 1 and len(old) < len(found[0][0].name.split()):
            return found[0][0], found[0][1], len(old)
        if found:
            return None
    return None


def _without_article(words: list[str]) -> list[str]:
    """New words less a leading article ("a menu tasting")."""
    while words and plain(words[0]) in _DETERMINERS:
        words = words[1:]
    return words


SPELLING = frozenset(stem(w) for w in "spelled spelt spelling misspelled misspelt typo wrong".split())


def respelt(units: list[Word], tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """A word of one name put right as the request spells it: "receive is spelled wrong in the package one" of
    "recieve package from UPS" (the request's word a slip away from the name's, in exactly one name)."""
    said = [plain(u.text) for u in units]
    if not any(stem(w) in SPELLING for w in said):
        return None
    for unit, word in reversed(list(zip(units, said, strict=True))):  # the spelling is said last ("…: piñata")
        found = [
            (t, j) for t in tasks for j, w in enumerate(t.name.split()) if plain(w) != word and misspelt(word, plain(w))
        ]
        if len(found) == 1 and word.isalpha() and len(word) >= 4:
            task, j = found[0]
            name = task.name.split()
            return task, " ".join([*name[:j], unit.text, *name[j + 1 :]])
    return None


_STRIKING = frozenset("take remove drop delete cut strip lose".split())
_OUT = {"out": "of", "from": "", "off": "", "in": ""}
_NOT_A_TASK = frozenset("at to in on for with into".split())  # "drop the kids off at school"
_WHOLE_LIST = frozenset("list lists tasks todo todos to-do to-dos items".split())


def struck(units: list[Word], places: Places, tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """A part of one task's name taken out: "take the 'maybe' out of the fence task", "remove urgent from the
    report one", "get rid of (optional) in #2". The words taken out stand in exactly one name, as a strict part, and
    the words after "out of"/"from" name that task (not the list: "remove milk from my list" removes the task)."""
    written = "".join(u.as_next() for u in units).split()
    said = [plain(w.strip(_ENDS)) for w in written]
    for k, word in enumerate(said):
        start = k + 3 if said[k : k + 3] == ["get", "rid", "of"] else k + 1 if word in _STRIKING else None
        near = range(start or 0, min((start or 0) + 5, len(said)))
        link = next((j for j in near if said[j] in _OUT and _OUT[said[j]] in ("", *said[j + 1 : j + 2])), None)
        if start is None or link is None or link == start:
            continue
        ref = link + 1 + bool(_OUT[said[link]])
        if said[ref : ref + 1] and said[ref] in _NOT_A_TASK:
            continue
        end = _clause_end(written, ref)
        end = next((j for j in range(ref, end) if said[j] in ("and", "then", "but")), end)
        reference = [w for w in said[ref:end] if w]
        if not reference or _WHOLE_LIST.intersection(reference) or OTHERS.intersection(said[:k] + said[end:]):
            continue
        found = _part_of_one(said, (start, link), tasks)
        if found is None or not _names(found[0], " ".join(written[ref:end]), reference, places):
            continue
        task, at, size = found
        name = task.name.split()
        kept = " ".join([*name[:at], *name[at + size :]]).strip(" ,;:-–—")
        return (task, kept) if kept else None
    return None


def _names(task: TaskPublic, text: str, reference: list[str], places: Places) -> bool:
    """Whether the words of `reference` name `task`: a mention of it among them, or a word of its name."""
    if any(t.id == task.id and plain(said) in plain(text) for t, said in places.values()):
        return True
    own = {stem(w.strip(_ENDS + ":()")) for w in plain(task.name).split()} - {stem(w) for w in STOP}
    return any(stem(w) in own for w in reference)


_AS_SAID = {("to",), ("into",), ("as",), ("->",), ("→",), ("=>",), ("to", "say"), ("to", "read")}
"""The words between a quoted old name and a quoted new one: "rename 'project stuff' to 'finish the grant'"."""


def requoted(units: list[Word], tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """A task named whole in quotes, and the new name quoted after it ("please change the name of task 'washing car'
    into 'wash the car and vacuum inside'"); none where the first quote is no task's whole name, or is several's."""
    quotes = sorted(quoted(units).items())
    for (first, closing), (then, end) in zip(quotes, quotes[1:], strict=False):
        if tuple(plain(u.text) for u in units[closing + 1 : then - 1]) not in _AS_SAID:
            continue
        old = " ".join(_bare_words("".join(u.as_next() for u in units[first:closing])))
        new = clean("".join(u.as_next() for u in units[then:end]))
        found = [task for task in tasks if " ".join(_bare_words(task.name)) == old]
        if len(found) == 1 and new:
            return found[0], new
    return None


_WRITING = frozenset("spell spelled spelt spelling accent accents typo correct fix write written".split())


def accented(units: list[Word], tasks: list[TaskPublic]) -> tuple[TaskPublic, str] | None:
    """A word written again with the accents a task's name lacks ("Please spell Jose with the accent: José"): it
    replaces that word in the one task that holds it, where the request speaks of writing it."""
    if not _WRITING.intersection(plain(u.text) for u in units):
        return None
    fixes: dict[int, tuple[TaskPublic, dict[int, str]]] = {}
    for unit in units:
        word = unit.text
        if word == plain(word) or not word.isalpha():
            continue
        found = [(t, n) for t in tasks for n, w in enumerate(t.name.split()) if w != word and w == unaccented(word)]
        if len(found) == 1:
            task, at = found[0]
            fixes.setdefault(task.id, (task, {}))[1][at] = word
    if len(fixes) != 1:
        return None
    ((task, words_at),) = fixes.values()
    return task, " ".join(words_at.get(n, w) for n, w in enumerate(task.name.split()))
