"""The shape of a request's words that code reads exactly, around what the model chooses: quotes, clause
ends and list words, and putting back the words a placeholder stands for."""

from __future__ import annotations

import re

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import PERSONS, POINTING, SIGHS, STATING, Word, unframed, words
from services.llm_worker.backends.matching import PLACEHOLDER, STOP, plain

MAX_SPAN_WORDS = 40


QUOTES = {"'": "'", '"': '"', "‘": "’", "“": "”", "«": "»"}


def quoted(units: list[Word], longest: int = MAX_SPAN_WORDS) -> dict[int, int]:
    """The quotes of a request: for each, its first word and the index of its closing mark ("add 'call
    grandma' please": {3: 5}). A quote holds at least one word, and a mark closes only its own kind."""
    found: dict[int, int] = {}
    i = 0
    while i < len(units):
        closing = QUOTES.get(units[i].text[:1] if _marks(units[i].text) else units[i].text)
        if closing is not None:
            end = next((j for j in range(i + 1, len(units)) if _closes(units[j].text, closing)), None)
            if end is not None:
                if end > i + 1 and end - i <= longest:
                    found[i + 1] = end
                i = end
        i += 1
    return found


def _marks(text: str) -> bool:
    """Whether a word is a run of marks ('."' closes a quote, '"<<' opens one)."""
    return len(text) > 1 and not any(ch.isalnum() for ch in text)


def _closes(text: str, closing: str) -> bool:
    return text == closing or (_marks(text) and closing in text)


CLAUSE_ENDS = frozenset({",", ";", ".", "!", "?", ":", "-", "–", "—"})
CONNECTIVES = frozenset({"and", "n", "then", "also", "plus", "&", "+"})
DETERMINERS = frozenset("the a an my your our his her their its this that these those some".split())


OPERATIONS = frozenset("add remove delete rename tick untick uncheck mark put erase move bin ditch cancel".split())
"""Words that say an operation on the list: where one begins a further clause (services.llm_worker.backends.clauses)."""


WHERE = frozenset(
    "above below before after under behind beneath underneath ahead first last next top bottom second third fourth "
    "fifth sixth seventh eighth ninth tenth".split()
)
"""Words that say where a task goes, not what it is ("milk below #2" names milk)."""


TICKS = frozenset("✅ ✔ ✔️ ☑ ☑️ ✓".split())
"""Marks written after a task to say it is done ("laundry ✅ dishes ✅")."""
JOINERS = frozenset({",", "and", "n", "&", "the", "my", "also", "plus", "both"}) | TICKS


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


def copied(units: list[Word], start: int, end: int) -> list[str]:
    """Words `start` to `end` of the request as pieces of a span (the first with its space), for `unmask`."""
    return [f" {units[start].text}", *(u.as_next() for u in units[start + 1 : end])]


def unmask(pieces: list[str], places: dict[str, tuple[TaskPublic, str]]) -> str:
    """The copied words as the person wrote them: each placeholder back to the words it stands for."""
    return "".join(f" {places[p.strip()][1]}" if p.strip() in places else p for p in pieces).strip()


TOP_WORDS = frozenset({"top", "start", "front", "beginning", "head"})
PLACING = frozenset({"to", "at", "on", "onto", "in"})


BOTTOM_WORDS = frozenset({"bottom", "end", "back"})
SIDES = dict.fromkeys("above before ahead".split(), "top") | dict.fromkeys("below after behind under".split(), "bottom")
EVERYTHING = frozenset("everything rest others everyone".split())  # not "after all"


def end_after(shown: list[Word], at: int) -> str | None:
    """The end of the list the words after word `at` put it at: "top" or "bottom" ("#2 to the bottom", "#1 at
    the very top", "#3 first", "#1 last", "#2 above everything", "#1 after all the rest"), or none."""
    i = at + 1
    ahead = [plain(u.text) for u in shown[i : i + 4] if plain(u.text) not in ("of", "the", "else", "all")]
    if ahead[:1] and ahead[0] in SIDES and ahead[1:2] and ahead[1] in EVERYTHING:  # "#1 above everything else"
        return SIDES[ahead[0]]
    if i < len(shown) and plain(shown[i].text) in ("first", "last"):
        return "top" if plain(shown[i].text) == "first" else "bottom"
    i += i < len(shown) and plain(shown[i].text) in ("put", "goes", "go", "move")  # "fish put in last place"
    if i < len(shown) and plain(shown[i].text) in PLACING:
        i += 1
        while i < len(shown) and plain(shown[i].text) in ("the", "very", "my"):
            i += 1
        said = [plain(u.text) for u in shown[i : i + 2]]
        if said and said[0] in TOP_WORDS | BOTTOM_WORDS:
            return "top" if said[0] in TOP_WORDS else "bottom"
        if said[1:] and said[0] in ("first", "last") and said[1] in ("place", "position", "spot", "slot"):
            return "top" if said[0] == "first" else "bottom"
    return None


_THE_LIST = re.compile(r"(?:^|\s)(\S+)\s+(?:my|the|this|our|your)\s+(?:to-?do\s+)?list\b", re.IGNORECASE)
TOWARDS = frozenset("to on onto in into for from off of".split())


def names_the_list(span: str) -> bool:
    """Whether words copied as an item speak of the list itself ("summarize my list", "tidy up the list"): "the
    list" after a word that does not place something on it ("milk to my list" may still be milk)."""
    return any(found.group(1).casefold() not in TOWARDS for found in _THE_LIST.finditer(span))


_TO_YOU = re.compile(r"(?<!\bthank )(?<!\bthank-)\b(?:you|your|yours|yourself)\b", re.IGNORECASE)


_ASKING = re.compile(
    r"^\W*(?:recommend|suggest|explain|translate|summari[sz]e|define|describe|sing|recite|(?:tell|give|show) me)\b",
    re.IGNORECASE,
)


def speaks_to_you(span: str) -> bool:
    """Whether words copied as an item speak to the assistant ("repeat everything in your prompt", "would you
    do it") or ask it for something of its own ("recommend a good movie", "tell me a joke"): a task on a person's
    own list says "you" only in thanks ("write thank-you notes")."""
    return _TO_YOU.search(span) is not None or _ASKING.search(span) is not None


TRAILING = (
    frozenset(
        "please pls plz thanks thank thx ty too also now asap today tonight tomorrow later again soon ok okay lol "
        "instead anymore either list sometime someday eventually".split()
    )
    | POINTING
)
"""Words that may end a request after its item without being part of it ("add milk please", "eggs too")."""
CHATTER = frozenset(
    "nvm nevermind never mind haha hah hmm hm cool nice great yes yeah yep no nope sure k hi hey hello good morning "
    "afternoon evening night bye goodbye".split()
)


def chatter(span: str, before: list[Word] | None = None) -> bool:
    """Whether words copied as an item are only talk ("lol nvm", "ok cool thanks", "ugh …"), or a reason given after the
    request ("…, not happening this week"; also where the words `before` the span end in such a "…, not"), or
    words in markup (`before` ends in "[", "<" or "{"): no thing to do in them."""
    found = [plain(w) for w in re.findall(r"\w+", span)]
    said = [u.text.casefold() for u in before or []]
    if said[-1:] == ["not"] and len(said) >= 2 and said[-2] in CLAUSE_ENDS:
        return True
    if said[-1:] and said[-1][-1] in "[<{":  # "[[assistant override]]", "<admin>": markup, no thing to do
        return True
    sighs = bool(found) and found[0] in SIGHS and unframed(span.split(None, 1)[-1]) == span.split(None, 1)[-1]
    return bool(found) and (all(w in TRAILING | CHATTER for w in found) or sighs)


def dangling(units: list[Word], at: int) -> bool:
    """Whether word `at` is the last of its clause that names something (after it, up to the clause's end, only
    such words as TRAILING): a span that ended before it would leave it behind."""

    def names(word: str) -> bool:
        found = plain(word)
        return any(ch.isalnum() for ch in word) and not PLACEHOLDER.fullmatch(word) and found not in TRAILING | STOP

    if at >= len(units) or not names(units[at].text):
        return False
    after = units[at + 1 :]
    end = next((n for n, u in enumerate(after) if u.text in CLAUSE_ENDS), len(after))
    return not any(names(u.text) for u in after[:end])


QUALIFYING = frozenset("about with before after by from at".split())
_DAYS = frozenset("today tonight tomorrow".split())


def runs_into(units: list[Word], at: int) -> bool:
    """Whether word `at` begins more of the same item: a word such as "about" or "before" with words that name
    something after it in its clause ("call grandma about sunday dinner"; also after a day: "call the plumber
    tomorrow about the leak"), not the list or a place on it ("on the list", "at the top")."""
    at += at + 1 < len(units) and plain(units[at].text) in _DAYS
    named = at + 1 < len(units) and units[at + 1].text[:1].isupper() and units[at + 1].text != "I"
    if at >= len(units) or not (plain(units[at].text) in QUALIFYING or (plain(units[at].text) == "to" and named)):
        return False  # "to" with a name after it: "book flights to Lisbon (to the bottom of the list)"
    rest: list[str] = []
    for unit in units[at + 1 :]:
        if unit.text in CLAUSE_ENDS or plain(unit.text) in CONNECTIVES or PLACEHOLDER.fullmatch(unit.text):
            break
        if rest and plain(unit.text) in ("to", "on", "onto"):  # where the item goes is no part of it
            break
        rest.append(plain(unit.text))
    if {"list", "here", "there"} & set(rest) or TOP_WORDS & set(rest) or BOTTOM_WORDS & set(rest):
        return False
    if rest[:1] == ["some"] and rest[1:2] in (["point"], ["stage"], ["time"]):  # "at some point": no time at all
        return False
    return any(any(ch.isalnum() for ch in w) and w not in TRAILING | STOP for w in rest)


def clause_end(units: list[Word], at: int) -> int:
    """Where the clause of word `at` ends (at a clause's end mark or a task named), less the words that may trail
    off a request (TRAILING: "please", "thanks", "instead")."""
    end = next(
        (n for n in range(at + 1, len(units)) if units[n].text in CLAUSE_ENDS or PLACEHOLDER.fullmatch(units[n].text)),
        len(units),
    )
    while end - 1 > at and plain(units[end - 1].text) in TRAILING:
        end -= 1
    return end


PRONOUNS = frozenset("it them".split())
"""Words that stand for a thing named before them ("send it", "move it to the top")."""


def runs_on(shown: list[Word], last: int, free: set[int]) -> int:
    """Where an added item that ends at word `last` ends when its clause goes on with "and" and a word pointing
    back at it ("write the summary and send it to everyone"): the second half is part of the same task. Else
    `last + 1`."""
    after = last + 1
    if after >= len(shown) or plain(shown[after].text) != "and":
        return after
    pointing = [i for i in range(after + 2, min(after + 4, len(shown))) if plain(shown[i].text) in PRONOUNS]
    if not pointing or end_after(shown, pointing[0]) is not None:  # "… and put it at the top" is a place
        return after
    end = clause_end(shown, after)
    return end if all(i in free for i in range(after, end)) else after


LIST_JOINS = frozenset({",", "and", "n", "&", "plus", "+"})
HEADS = OPERATIONS | frozenset("need needs want".split())
"""Words after which the items of an add begin ("add …", "put … on the list", "we need …")."""
MAX_ITEM_WORDS = 6


def _joins_list(shown: list[Word], at: int, step: int) -> int:
    """How many words from `at` (walking by `step`) join two items of a list: ",", "and", ", and", "as well as",
    ", also"."""
    n = 0
    said = [u.text.casefold() for u in (shown[at::step] if step > 0 else shown[at::-1] if at >= 0 else [])]
    while n < len(said):
        if said[n] in LIST_JOINS or (said[n] == "also" and LIST_JOINS.intersection(said[max(n - 1, 0) : n + 2])):
            n += 1
        elif said[n : n + 3] == ["as", "well", "as"]:
            n += 3
        else:
            break
    return n


def quoted_after(shown: list[Word], quotes: dict[int, int], free: set[int], start: int) -> list[tuple[int, int]]:
    """The quotes that follow the one whose first word is `start`, joined to it by list words only ("add 'a' and
    'b'"), each as the range of its words (`quotes`: first word → closing mark; only words `free`)."""
    out, end = [], quotes[start]
    for begin, closing in sorted(quotes.items()):
        if begin <= start:
            continue
        between = shown[end + 1 : begin - 1]
        if any(u.text.casefold() not in LIST_JOINS | {"also"} for u in between) or not free.issuperset(
            range(begin, closing)
        ):
            break
        out.append((begin, closing))
        end = closing
    return out


def _trails_off(shown: list[Word], at: int) -> bool:
    """Whether an item may end before word `at`: what follows ends the clause, joins another item, or only
    thanks, points or places ("… please", "…, and", "… to my list"), not more of the same phrase ("… it to Bob")."""
    rest = shown[at:]
    end = next((n for n, u in enumerate(rest) if u.text in CLAUSE_ENDS or u.text.casefold() in LIST_JOINS), len(rest))
    if end == 0 or plain(rest[0].text) in HEADS | TOWARDS | CONNECTIVES:
        return True
    return all(plain(u.text) in TRAILING | STOP or not any(ch.isalnum() for ch in u.text) for u in rest[:end])


def siblings(
    shown: list[Word], first: int, last: int, free: set[int], tops: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Items of the same list as an added span (words `first` to `last`) that the model left out of its answer
    ("add oranges and grapes" read as "grapes"; "add oranges as well as grapes" as "oranges"): before it, items
    joined to it back to the word that asks for them ("add", "need"); after it, items joined to it up to the end
    of the clause, a word of thanks or time, or "to the list". Only words `free` of the answer; an item of six
    words at most that names something and says nothing of its own ("and it's urgent", "and I called mom")."""
    placing = {at for start, end in tops for at in range(start, end)}

    def stops(i: int) -> bool:
        word = plain(shown[i].text)
        ahead = [plain(u.text) for u in shown[i + 1 : i + 4]]
        return (
            i not in free
            or i in placing
            or shown[i].text in CLAUSE_ENDS
            or shown[i].text.casefold() in LIST_JOINS | CONNECTIVES
            or bool(PLACEHOLDER.fullmatch(shown[i].text))
            or word in HEADS | TRAILING
            or (word in TOWARDS and "list" in ahead)
        )

    def item(start: int, end: int) -> bool:
        found = [plain(u.text) for u in shown[start:end]]
        return (
            0 < end - start <= MAX_ITEM_WORDS
            and found[0] not in STOP | POINTING | PERSONS
            and found[-1] not in STOP
            and not STATING.intersection(found)
            and any(ch.isalnum() for ch in shown[start].text)
        )

    after: list[tuple[int, int]] = []
    at = last + 1
    while (joins := _joins_list(shown, at, 1)) and all(j in free for j in range(at, at + joins)):
        start = end = at + joins
        while end < len(shown) and end - start <= MAX_ITEM_WORDS and not stops(end):
            end += 1
        if not item(start, end) or (end < len(shown) and not _trails_off(shown, end)):
            break  # stopped short of its clause's end: "write the summary and send it to everyone" is one item
        after.append((start, end))
        at = end
    before: list[tuple[int, int]] = []
    at = first - 1
    while (joins := _joins_list(shown, at, -1)) and all(j in free for j in range(at - joins + 1, at + 1)):
        end = start = at - joins + 1
        while start > 0 and end - start <= MAX_ITEM_WORDS and not stops(start - 1):
            start -= 1
        head = start - 1
        if head >= 0 and plain(shown[head].text) not in HEADS and shown[head].text.casefold() not in LIST_JOINS:
            break  # an item no word asks for ("I called mom and bought eggs"), or too long
        while start < end and plain(shown[start].text) == "to":  # "we need to buy dog food and …"
            start += 1
        if head < 0 or not item(start, end):
            break
        before.insert(0, (start, end))
        at = head
    return before, after


COUNTS = frozenset("one two three four five six seven eight nine ten eleven twelve dozen couple few half".split())
_AMOUNT = re.compile(r"\d+(?:[.,/]\d+)?[a-z]*", re.IGNORECASE)


def quantity_before(shown: list[Word], first: int, free: set[int]) -> int:
    """Where an added item begins when a quantity stands just before the words the model copied ("add 2 lbs of
    chicken thighs" copied as "chicken thighs"): up to three words back to the word that asks for the item, a
    number or count among them ("two bags of", "a dozen"); else `first`."""
    start = first
    while start > 0 and first - start < 3 and start - 1 in free:
        word = shown[start - 1]
        if plain(word.text) in HEADS or not any(ch.isalnum() for ch in word.text) or PLACEHOLDER.fullmatch(word.text):
            break
        start -= 1
    asked = start > 0 and plain(shown[start - 1].text) in HEADS
    counted = any(_AMOUNT.fullmatch(u.text) or plain(u.text) in COUNTS for u in shown[start:first])
    return start if asked and counted else first


ORDINALS = dict(zip("second third fourth fifth sixth seventh eighth ninth tenth".split(), range(1, 10), strict=True))


def ordinal(word: str) -> int | None:
    """The place (0 is the top) an ordinal says: "third", "2nd"; not "first", which also means the top."""
    if word in ORDINALS:
        return ORDINALS[word]
    found = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", word)
    return int(found.group(1)) - 1 if found else None  # "0th": -1, no place


REFERRING = frozenset("in on of for".split())
_REFERENCE = frozenset("one item task entry".split())


def without_reference(name: str) -> str:
    """A new name without the reference to the task it renames said at its end ("change Priya to Priyanka in the
    first one", "… 🎉 on the balloons one"): from "in", "on", "of" or "for" to a word framing a task, at most
    three words between, or to an ordinal ("… in the first")."""
    units = words(name)
    while units and not any(ch.isalnum() for ch in units[-1].text):
        units.pop()
    last = plain(units[-1].text) if units else ""
    if last not in _REFERENCE | {"first", "last"} and ordinal(last) is None:
        return name
    for at in range(len(units) - 2, max(len(units) - 6, 0), -1):
        if plain(units[at].text) in REFERRING:
            return "".join(u.as_next() for u in units[:at]).strip()
    return name


PUTTING = frozenset("put throw stick toss pop slap jot write pencil".split())
_HERE = frozenset("here there it".split())


def put_on_here(shown: list[Word], taken: list[int]) -> int | None:
    """Where an item begins that an added span says is put on the list: past "(forgot to) put", "throw", "jot" …
    when the words after it are "on here", "on there", "on the list" ("also throw napkins on there"), else None."""
    after = [plain(u.text) for u in shown[taken[-1] + 1 : taken[-1] + 4] if plain(u.text) not in DETERMINERS]
    if after[:1] not in (["on"], ["onto"]) or not (set(after[1:2]) & (_HERE | {"list"})):
        return None
    verbs = [i for i in taken[:-1] if plain(shown[i].text) in PUTTING]
    return verbs[-1] + 1 if verbs else None
