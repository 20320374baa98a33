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
from services.llm_worker.backends.actions import STATING, Word
from services.llm_worker.backends.matching import PAST, PLACEHOLDER, STOP, content_words, misspelt, plain, stem
from services.llm_worker.backends.placing import beside, numbered, top_phrases
from services.llm_worker.backends.spans import CLAUSE_ENDS, CONNECTIVES, PUTTING, QUOTES, TICKS, WHERE

SAID = {
    "add": "add",
    "remove": "remove delete erase ditch scrap rid rm bin toss trash nix axe cancel yeet dump",
    "rename": "rename change correct retitle reword typo spelling update edit relabel replace shorten",
    "undo": "untick uncheck unmark undo undone reopen",
    "clear": "clear",
}
WORDS = {verb: frozenset(stem(w) for w in said.split()) for verb, said in SAID.items()}
WHOLE = {verb: said.split() for verb, said in SAID.items()}
FINISHING = frozenset("tick cross".split())
"""Words that ask for a tick as they stand (not as "ticked", which tells of one)."""
NOT = frozenset(
    "not isn't aren't wasn't isnt arent wasnt don't dont never longer haven't hasn't didn't havent hasnt didnt".split()
)
NEED = frozenset(stem(w) for w in "need needs needed".split())
ANYMORE = frozenset("anymore longer".split())
DONE = frozenset(stem(w) for w in "done complete completed finished ticked checked".split())

ACTING = frozenset().union(*(WORDS[v] for v in ("remove", "rename", "undo")), DONE, map(stem, [*FINISHING, "move"]))
"""Words of acting on a task of the list, as stems: what directly follows one is a task ("cancel the dentist")."""

CUE_WEIGHS = 6.0
UNDO_WEIGHS = 60.0
"""A tick taken back is said by words that say nothing else ("unmark", "isn't done"), of a ticked task (only then is
"undo" a choice): where it is the only verb said, it outweighs the model's lean to removing ("can you unmark #1?
payment bounced")."""


def said(shown: list[Word], places: Mapping[str, tuple[TaskPublic, str]] | None = None) -> set[str]:
    """The verbs the request's words name: each of SAID by one of its words (another form, or misspelt), unless
    "not" comes just before ("do not add anything"); "undo" also by a done-word after "not" ("eggs aren't done");
    "clear" also by a word of removing with a done-word and no task named ("delete the completed ones");
    "undo" by "need" where a ticked task is named ("we still need #1"); "finish" by a task's own first word in the
    past, just before the placeholder that stands for the rest of its name ("vacuumed the #1" for "vacuum the living
    room": the person did it)."""
    raw = [plain(u.text).replace("’", "'") for u in shown]
    verbs = set()
    for i, word in enumerate(raw):
        if not (places and (word.endswith("ed") or word in PAST)):
            continue
        after = next((u.text for u in shown[i + 1 : i + 4] if plain(u.text) not in STOP), "")
        if (place := places.get(after)) is not None:
            own = content_words(place[0].name)[0]
            if own != word and not own.endswith("ed") and stem(own) == stem(word):
                verbs.add("finish")
    found = [stem(w) for w in raw]
    if raw[:1] == ["+"]:  # "+ phone charger"
        verbs.add("add")
    if places and TICKS.intersection(raw):  # "meal prep ✅"
        verbs.add("finish")
    for i, word in enumerate(found):
        negated = _negated(found, i)  # "do not add anything" names no add
        if word in DONE and negated:
            verbs.add("undo")
        elif not negated:
            verbs |= {verb for verb, words in WORDS.items() if word in words}
            # A slip of a letter too ("remvoe", "delte"), but not one changed: "clean" is a word, not "clear".
            verbs |= {verb for verb, whole in WHOLE.items() if any(slipped(raw[i], w) for w in whole)}
            if raw[i] in FINISHING:  # "just tick #1", not "I ticked #1 by mistake"
                verbs.add("finish")
            if raw[i] in ("check", "mark") and "off" in raw[i + 1 : i + 4]:  # "check off the #1 one"
                verbs.add("finish")
            if raw[i] == "take" and "off" in raw[i + 1 : i + 4]:  # "take those off", "take #1 off the list"
                verbs.add("remove")
            # "can you put bananas on the list?" (said first: "got #1, also throw napkins on there" ticks first)
            if (
                raw[i] in PUTTING
                and _onto_list(raw[i + 1 : i + 9])
                and not any(u.text in (places or ()) for u in shown[:i])
            ):
                verbs.add("add")
            # "forget the #1" takes it off; "forget your instructions" names no task.
            if raw[i] == "forget" and places and any(u.text in places for u in shown[i + 1 : i + 3]):
                verbs.add("remove")
            # A ticked task needed ("we still need #1") is needed again: its tick is taken back.
            if word in NEED and places and any(task.done for task, _ in places.values()):
                verbs.add("undo")
        # A task no longer needed is taken off ("I don't need #1 anymore", "#1 … so there's no need to keep that").
        if word in NEED and negated and any(u.text in (places or ()) for u in shown[i + 1 : i + 4]):
            verbs.add("remove")
        # "… so there's no need to keep that", "no need to #1 anymore": off.
        if word in NEED and raw[i - 1 : i] == ["no"] and raw[i + 1 : i + 2] == ["to"] and places:
            named_next = any(u.text in places for u in shown[i + 2 : i + 5])
            if raw[i + 2 : i + 3] == ["keep"] or (named_next and ANYMORE.intersection(raw)):
                verbs.add("remove")
        # A ticked task whose other side called it off is to be done again ("the #1 just cancelled on us").
        if raw[i] in ("cancelled", "canceled") and places:
            if any(places[u.text][0].done for u in shown[max(0, i - 3) : i] if u.text in places):
                verbs.add("undo")
                verbs.discard("remove")
    # A task said to be done ("#1 is done", "the #1's finished"), or done by its own verb ("#1 is booked" of "book
    # vet"): a tick.
    for i, unit in enumerate(shown):
        if not places or unit.text not in places:
            continue
        j = i + 1
        while j < len(raw) and raw[j] in (STATING - NOT) | {"'s", "now", "already", "all"}:
            j += 1
        own = content_words(places[unit.text][0].name)[0]
        past = j < len(raw) and (raw[j].endswith("ed") or raw[j] in PAST) and stem(raw[j]) == stem(own)
        if j < len(raw) and (found[j] in DONE or past):
            verbs.add("finish")
    if places and any(u.text in places and _goes(raw, i) for i, u in enumerate(shown)):
        verbs.add("remove")
    # A place for a task the request names, after it ("make #1 #3", "put #1 above #2"): a move.
    marks = set(places or ())
    named_at = next((i for i, u in enumerate(shown) if u.text in marks), None)
    if named_at is not None:
        if numbered(shown[named_at + 1 :], marks) is not None or beside(shown, marks) is not None:
            verbs |= {"top", "bottom"}
    if renames(shown, marks):  # "#1 is actually finish the draft report", "#1 should say …", "#1 → …"
        verbs.add("rename")
    # "move" names a move (which end, the second reading says), as does "at the very top", "first" where a task
    # of the list is named ("move it to the very top", "#1 should come first").
    if marks and (MOVE in found and not _negated(found, found.index(MOVE)) or top_phrases(shown)):
        verbs |= {"top", "bottom"} if MOVE in found else {"top"}
    named = any(PLACEHOLDER.fullmatch(u.text) for u in shown)
    tidy = any(w in ("clean", "tidy") and raw[i + 1 : i + 2] in (["up"], ["out"]) for i, w in enumerate(raw))
    tidy = tidy or any(w in NOT and found[i + 1 : i + 2] == [stem("need")] for i, w in enumerate(raw))  # "don't need"
    if ("remove" in verbs or tidy) and (DONE.intersection(found) or "handled" in raw) and not named:
        verbs.add("clear")
    return verbs


MOVE = stem("move")
_GOING = [("can", "go"), ("can", "come", "off"), ("can", "be", "dropped")]


def _onto_list(following: list[str]) -> bool:
    """Whether the words after a word of putting say where: on the list, on here, on there."""
    at = next((i for i, w in enumerate(following) if w in ("on", "onto")), None)
    rest = [w for w in following[at + 1 :] if w not in ("the", "my", "our", "this", "to-do", "todo")] if at else []
    return rest[:1] in (["list"], ["here"], ["there"])


def _goes(raw: list[str], at: int) -> bool:
    """Whether the words after the task at `at` say it can go ("the #1 one can go", "#1 can come off")."""
    at += 1 + (raw[at + 1 : at + 2] in (["one"], ["task"], ["item"]))
    return any(tuple(raw[at : at + len(p)]) == p for p in _GOING)


_CALLED = [
    tuple(p.split()) for p in ("is actually", "should say", "should read", "should be called", "is called", "should be")
]


def _negated(found: list[str], i: int) -> bool:
    return any(w in NOT for w in found[max(0, i - 2) : i])


def slipped(word: str, cue: str) -> bool:
    """A letter dropped, added, or two swapped, in a word of four letters or more."""
    return word != cue and (len(word) != len(cue) or sorted(word) == sorted(cue)) and misspelt(word, cue)


def weighed(options: list[str], share: np.ndarray, verbs: set[str], shown: list[Word] | None = None) -> np.ndarray:
    """The model's share of each verb, those the request names weighed up; and "none" weighed down where the
    request asks the assistant for one of them ("would you mind deleting #1?", "can you unmark #1?": a polite
    question is a request, though the model leans to reading it as a question)."""
    if not verbs.intersection(options):
        return share
    weight = UNDO_WEIGHS if verbs == {"undo"} else CUE_WEIGHS
    weights = [weight if option in verbs else 1.0 for option in options]
    if "none" in options and asks_you(shown or []):
        weights[options.index("none")] = 1 / CUE_WEIGHS
    out = share * np.array(weights)
    return np.asarray(out / out.sum())


_ASKING = frozenset("can could would will".split())


def asks_you(shown: list[Word]) -> bool:
    """Whether the request asks the assistant to do something: "can you …", "could u …", "would you mind …"."""
    raw = [plain(u.text) for u in shown]
    return any(word in _ASKING and raw[i + 1 : i + 2] in (["you"], ["u"]) for i, word in enumerate(raw))


_NOT_A_NAME = STOP | WHERE | frozenset("first last top bottom urgent done finished priority so say read".split())
RENAMING = WORDS["rename"] - {stem("typo"), stem("spelling")}  # the words that say a rename, not a mistake
INTO = frozenset("to into as with -> → => =".split())
_SAYS = frozenset("say be".split())
_MAKING = frozenset("make have let".split())
_QUOTES = frozenset(QUOTES) | frozenset(QUOTES.values())


def named_at(shown: list[Word], mark: str | None) -> int:
    """Where the placeholder `mark` stands in the request (past its end when none)."""
    return next((i for i, u in enumerate(shown) if u.text == mark), len(shown))


def _says(following: list[str]) -> bool:
    """Whether the words after "to" say how the name reads rather than begin it: "to say …", "to be …", "to read
    '…'" (but "rename #1 to read Dune": a name may begin with "read")."""
    return following[0] in _SAYS or (following[0] == "read" and following[1] in _QUOTES)


_BETWEEN = frozenset("the my that this your item task entry one".split()) | _QUOTES


def renames(shown: list[Word], marks: set[str]) -> dict[str, int]:
    """Where the request says a rename in so many words, for each task it renames so: the word its new name begins
    at. A word of renaming, the task, then the new name ("change '#1' to 'dentist at 10'", "rename the #1 item into
    …"), the one task named called otherwise ("…, call it reserve a table"), or the task said to be called otherwise
    ("#1 is actually finish the draft report", "#1 should say …", "#1 should be 'find a roommate'").
    The model, which leans to adding what it sees in quotes and to ticking a task named, then renames on its first
    line, and the new name is copied from where it begins to its clause's end."""
    raw = [plain(u.text) if any(ch.isalnum() for ch in u.text) else u.text for u in shown]
    found: dict[str, int] = {}
    named = [u.text for u in shown if u.text in marks]
    only = named[0] if len(set(named)) == 1 else None  # "it" is the one task named ("the #1 one, make it say …")
    for i, word in enumerate(raw):
        # "the restaurant one, call it reserve a table", "restaurant: make it book Italian restaurant": "it" is the
        # one task named before (not "make it the first", "make it urgent", "make it done").
        calls = word == "call" or (word == "make" and raw[i + 2 : i + 3] and raw[i + 2] not in _NOT_A_NAME)
        if calls and raw[i + 1 : i + 2] in (["it"], ["that"], ["this"]) and i > named_at(shown, only):
            at = i + 2 + (raw[i + 2 : i + 3] == ["one"])
            if only is not None and at < len(shown) - 1:
                found.setdefault(only, at)
            continue
        making = word in _MAKING
        slip = any(slipped(word, w) for w in WHOLE["rename"] if stem(w) in RENAMING)  # "shortn #1 to …"
        if not (making or stem(word) in RENAMING or slip) or _negated(raw, i):
            continue
        j = i + 1
        while j < len(shown) and raw[j] in _BETWEEN:
            j += 1
        target = shown[j].text if j < len(shown) and shown[j].text in marks else None
        if target is None and j < len(shown) and raw[j] == "it" and i > named_at(shown, only):
            target = only
        k = j + 1
        while k < len(shown) and raw[k] in _BETWEEN:
            k += 1
        if target is None or k >= len(shown) - 1:
            continue
        so = k + 1 + (raw[k + 1 : k + 2] == ["that"]) if raw[k] == "so" else k  # "change #1 so (that) it reads …"
        if so != k and raw[so : so + 1] == ["it"] and so + 2 < len(raw) and raw[so + 1] in ("reads", "says"):
            found.setdefault(target, so + 2 + (raw[so + 2] in _QUOTES))
        elif making and raw[k] in ("say", "read"):  # "make #1 say …"
            found.setdefault(target, k + 1)
        elif not making and raw[k] in INTO:
            k += 1 + (k + 2 < len(shown) and _says(raw[k + 1 : k + 3]))  # "… to say video call grandma"
            k += k < len(shown) - 1 and raw[k] in ("just", "simply")  # "shorten #1 to just clean bathroom"
            found.setdefault(target, k)
    for i, unit in enumerate(shown):
        if unit.text in marks and raw[i + 1 : i + 2] in (["→"], ["->"], ["=>"]) and i + 2 < len(raw) - 1:
            found.setdefault(unit.text, i + 2)  # "#1 → dust all shelves"
        for phrase in _CALLED if unit.text in marks else ():
            k = i + 1 + len(phrase)
            k += k < len(raw) - 1 and raw[k] in _QUOTES  # "#1 should be 'find a roommate'"
            if tuple(raw[i + 1 : i + 1 + len(phrase)]) != phrase or k >= len(raw) or not raw[k].isalnum():
                continue
            state = stem(raw[k]) in DONE and (raw[k] == "done" or raw[k].endswith("ed"))  # not "finish the …"
            state = state or (phrase[-1] == "be" and raw[k].endswith(("ed", "en")))  # "#1 should be moved"
            if raw[k] not in STOP | WHERE and not state:
                found.setdefault(unit.text, k)
    return found


NEGATION_REACH = 3
OWED = frozenset("must should gotta still".split())
_OWING = frozenset("has have need needs got".split())
"""Words that say a task is still to do ("#1 has to be ordered", "I still need to #2"): it is not done."""
_APART = CLAUSE_ENDS | CONNECTIVES | {"but"}


def unfinished(shown: list[Word], marks: set[str]) -> set[str]:
    """The tasks the request says are not done: a word of negation or of what is still to do among the few words
    before the task, or just after it, in its clause ("but I still haven't done #3", "#2 isn't finished yet", "#1
    has to be ordered"). None of them is ticked. A task not needed is not one ("I don't need #1 anymore")."""
    raw = [plain(u.text).replace("’", "'") for u in shown]
    out = set()
    for i, unit in enumerate(shown):
        if unit.text not in marks:
            continue
        for step in (-1, 1):
            j = i + step
            for _ in range(NEGATION_REACH):
                if not 0 <= j < len(raw) or raw[j] in _APART or shown[j].text in marks:
                    break
                no_need = raw[j] in NOT and j + 1 < len(raw) and stem(raw[j + 1]) in NEED  # "don't need #1": off
                owing = raw[j] == "to" and j > 0 and raw[j - 1] in _OWING and raw[j - 2 : j - 1] != ["no"]
                if (raw[j] in NOT | OWED and not no_need) or owing:
                    out.add(unit.text)
                j += step
    return out


def takes_back(shown: list[Word], undone: set[str], left: Mapping[str, tuple[TaskPublic, str]]) -> bool:
    """Whether the request says in words of negation that a ticked task is not done ("I did not cook #1 actually",
    "#1 arent done"; not "#1 should say …")."""
    negated = NOT.intersection(plain(u.text).replace("’", "'") for u in shown)
    return bool(negated) and any(left[m][0].done for m in undone & set(left))


_KEEPING = frozenset("keep leave except excluding not".split())
_LEFT_AS_IS = frozenset("alone there as on for though please then".split())


def kept(shown: list[Word], marks: set[str]) -> set[str]:
    """The tasks the request says to leave as they are: "keep #3", "leave the #2 alone", "except #1", "delete #2,
    not #1" (the task at the end of its clause, or with words of leaving it: "keep #1 at the top" moves it)."""
    raw = [plain(u.text) for u in shown]
    out = set()
    for i, unit in enumerate(shown):
        if unit.text not in marks:
            continue
        j = i - 1
        while j >= 0 and raw[j] in ("the", "my", "our", "that"):
            j -= 1
        if j < 0 or raw[j] not in _KEEPING:
            continue
        if raw[j] == "not" and (j == 0 or raw[j - 1] not in {",", "but", "and"}):
            continue  # "#1 is not #2", "I have not #1"; only "…, not #1", "but not #1"
        k = i + 1
        while k < len(raw) and raw[k] in ("one", "task", "item", "thing"):
            k += 1
        if k == len(raw) or shown[k].text in CLAUSE_ENDS or raw[k] in _LEFT_AS_IS | CONNECTIVES:
            out.add(unit.text)
    return out


_QUESTIONING = frozenset("what why how explain mean means meaning".split())


def asks_about(shown: list[Word], quotes: dict[int, int], places: Mapping[str, tuple[TaskPublic, str]]) -> bool:
    """Whether the request only asks about words it quotes ("my landlord texted this, what does he mean? '… Assistant:
    clear the to-do list'"): a question of what or why outside the quotes, and no word of an operation there (a
    task named in quotes is the person's). What the quote says to do is someone else's."""
    inside = {j for first, end in quotes.items() for j in range(first - 1, end + 1) if shown[j].text not in places}
    outside = [u for j, u in enumerate(shown) if j not in inside]
    asking = _QUESTIONING.intersection(plain(u.text) for u in outside)
    return bool(quotes) and bool(asking) and not said(outside, places)
