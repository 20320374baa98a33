"""Constrained decoding for the embedded model, a word at a time: the model only ever chooses among the
continuations that are allowed (a verb, the next word of a span of the request, the end of a line), by its
own next-token probabilities read from llama.cpp, so its answer is always well formed and copies the
request's words exactly."""

from __future__ import annotations

from collections.abc import Generator

from proto.messages import TaskPublic
from services.llm_worker.backends import spelling
from services.llm_worker.backends.actions import (
    MAX_ACTIONS,
    RENAME_TO,
    SPANLESS,
    TARGETED,
    VERBS,
    Action,
    Word,
    can_start,
    is_symbol,
    words,
)
from services.llm_worker.backends.adds import Adds, before_quote
from services.llm_worker.backends.cues import kept, renames, said, takes_back, unfinished, weighed
from services.llm_worker.backends.direct import answered
from services.llm_worker.backends.matching import STOP, plain, stem
from services.llm_worker.backends.mentions import FRAMES, Places, find_mentions, masked, said_done, spelt_out
from services.llm_worker.backends.placing import beside, numbered, placed_first, top_phrases
from services.llm_worker.backends.pool import POOL
from services.llm_worker.backends.reader import Reader
from services.llm_worker.backends.second import direction, second_opinion
from services.llm_worker.backends.shots import (
    Nearest,
    examples_shown,
    few_shot_prefix,
    meaning_prefix,
)
from services.llm_worker.backends.spans import (
    CLAUSE_ENDS,
    CONNECTIVES,
    DETERMINERS,
    MAX_SPAN_WORDS,
    QUOTES,
    TRAILING,
    chatter,
    clause_end,
    dangling,
    end_after,
    joined,
    quoted,
    runs_into,
    speaks_to_you,
    unmask,
    without_reference,
)

NEAREST = Nearest(POOL)
NEAREST_SHOWN = 3
"""How many examples of the pool, the nearest the request, come between the fixed ones and the request: each
costs the request ~15 tokens of evaluation (~5 ms a token on 2 cores); 3 scored best on the development set."""
NEXT_LINE, LAST_LINE = "\n", "\n\n"


SURE = 0.7
"""Below this probability for its first verb, the model is asked again in plain words (the second pass)."""
WHOLE_NAME = frozenset("say read called".split()) | set(QUOTES) | set(QUOTES.values())
"""Words just before a rename's new name that say it is the whole name ("make #1 say …"), not a part of it."""
ENDS = {"first": "top", "top": "top", "last": "bottom", "bottom": "bottom"}
"""A new name that is only an end of the list is a move there ("make #1 the first one")."""


class Decoder(Adds):
    """The model's actions for one request, each as soon as its line is complete. `second`, a context of the
    same model holding the plain-meaning prompt, gives a second opinion on a first verb the model is unsure of,
    and says which end of the list a move goes to."""

    def __init__(self, reader: Reader, second: Reader | None = None) -> None:
        super().__init__()
        self.reader = reader
        self.second = second
        self.prefix = few_shot_prefix()
        self.shown = ""
        self.units: list[Word] = []  # the request as the model reads it (a named task as its placeholder)
        self.renaming: dict[str, int] = {}  # tasks it renames in so many words, where each new name begins
        self.undone: set[str] = set()  # the tasks it says are not done (cues.unfinished): never finished
        self.asks_add: int | None = None  # where it says "add" while no line has added yet
        self.unquoted: tuple[int, int] | None = None  # an item said before a quote and on into it ("add listen to "…"")
        self.respelling = False  # it speaks of spelling ("fix the spelling of #1": spelling.asks)

    def warm(self) -> None:
        """Evaluate the few-shot examples once, so the first request pays only for its own words."""
        self.reader.start(self.prefix + "hello\n")
        spelling.dictionary(self.reader.llm)  # the words a slip is read against (~0.7 s)
        if self.second is not None:
            self.second.start(meaning_prefix() + "hello\nMeaning:")

    def actions(self, text: str, tasks: list[TaskPublic]) -> Generator[Action, None, None]:
        """The request with the tasks it names as placeholders (code finds them); the model then chooses
        each line's verb, which placeholder it acts on, and the words of a new item or name."""
        units = spelt_out(spelling.request_words(text, self.reader.llm), tasks)
        shown, places = masked(units, find_mentions(units, tasks))
        self.shown = "".join(u.as_next() for u in shown).strip()
        self.units = shown
        self.quotes = quoted(shown)  # found in the whole request: a quote's marks pair from its start
        self.tops = top_phrases(shown)
        self.said = said(shown, places)
        self.renaming = renames(shown, set(places))
        self.undone = unfinished(shown, set(places))
        self.respelling = spelling.asks(shown)
        if (direct := answered(units, shown, places, tasks, self.said, self.respelling, self.reader.llm)) is not None:
            self.used = set(range(len(shown)))  # code read the clause whole: a further clause is read on
            yield from direct  # a rename code reads exactly ("fix the spelling on both", "#1 got moved to Saturday")
            return
        asked = (i for i, u in enumerate(shown) if "add" in self.said and stem(plain(u.text)) == "add")
        self.asks_add = next(asked, None)
        self.unquoted = before_quote(shown, self.asks_add, self.quotes)
        near = examples_shown(NEAREST.pick(self.shown, NEAREST_SHOWN))
        self.reader.start(f"{self.prefix}{near}{self.shown}\n")
        left = self.left = {m: held for m, held in places.items() if m not in kept(shown, set(places))}
        self.where = {unit.text: i for i, unit in reversed(list(enumerate(shown))) if unit.text in places}
        for n in range(MAX_ACTIONS):
            for mark in self.undone if n == 1 else ():  # a later line's slip ("I haven't bought #1, but #2 is done")
                left.pop(mark, None)
            # Only a request that names a task of the list can finish, remove, rename or move one; only a
            # first line may say "none" or "clear" (a clear after "milk is done" would take the milk away).
            verbs = [v for v in VERBS if (left or v not in TARGETED) and (n == 0 or v not in SPANLESS)]
            # A later line adds words the earlier lines have not used ("walk the dog ✔" is one action).
            if n > 0 and not any(can_start(u) and self._unused(shown, i) for i, u in enumerate(shown)):
                verbs.remove("add")
            # Nor does a later line finish a task that is done already ("move #1 to the top and delete #2"), nor
            # a first one whose words say to take a tick back ("reopen the #1 task", "#1 isn't done"); nor is a task
            # it says is not done finished ("but I still haven't done #3").
            unfinishable = all(task.done or m in self.undone for m, (task, _) in left.items())
            if left and unfinishable and (n > 0 or "undo" in self.said or self.undone.intersection(left)):
                verbs.remove("finish")
            # Only a ticked task can be unticked: "undo" is a choice only where the request names one.
            if "undo" in verbs and not any(task.done for task, _ in left.values()):
                verbs.remove("undo")
            if not verbs:
                return
            found = self._line(verbs, shown, places, left)
            if found is None:  # the model would only add an item already on the list: not that, then
                found = self._line([v for v in verbs if v != "add"], shown, places, left)
            assert found is not None  # without "add", a line always comes out
            for action in found[0]:
                yield action
                if action.verb == "none":
                    return
            if found[1] != NEXT_LINE:
                return

    def _line(
        self, verbs: list[str], shown: list[Word], places: Places, left: Places
    ) -> tuple[list[Action], str] | None:
        """One line of the answer: its actions (one, or one per task of a list the request joins) and how the
        line ended. None, rewound, when it would add an item already on the list (the whole of one: "add milk"
        still adds milk beside "oat milk"), or words that speak of the list itself ("summarize my list")."""
        mark, untouched, used = self.reader.mark(), dict(left), set(self.used)
        # After a first line the model may also end its answer here (a blank line), rather than be made
        # to choose a verb it does not mean.
        options = verbs if "none" in verbs or len(self._enders()) == 1 else [*verbs, NEXT_LINE]
        # "change #1 to …", "fix the spelling of #1": a rename first.
        if (self.renaming or self.respelling) and not self.used and "rename" in options:
            options = ["rename"]
        # "I did not cook #1 actually", "#1 arent done": a ticked task said not to be done has its tick taken back.
        if takes_back(shown, self.undone, left) and not (self.used or self.renaming) and self.said <= {"undo"}:
            options = ["undo"] if "undo" in options else options
        # Every task left is followed by one end of the list ("move #1 to the top and #2 to the bottom"): a move.
        ends = {end_after(shown, self.where[m]) for m in left}
        if len(ends) == 1 and (end := ends.pop()) in options:
            options = [end]
        # A later clause that names one operation in so many words is that operation ("…, check off #1, delete #2").
        cued = self._cued(shown, places)
        if self.used and len(only := cued & set(options)) == 1:
            options = [*only, *(o for o in options if o == NEXT_LINE)]
        share = self.reader.share([self.reader.tokens(v) for v in options])
        if "none" in options and share.max() < SURE and self.second is not None:
            share = second_opinion(self.second, self.shown, options, share)
        if options[int(share.argmax())] in ("top", "bottom") and {"top", "bottom"} <= set(options) and self.second:
            share = direction(self.second, self.shown, options, share, list(left))
        share = weighed(options, share, cued, shown)
        index = int(share.argmax())
        self.reader.feed(self.reader.tokens(options[index]))  # each verb is one token
        if options[index] == NEXT_LINE:
            return [], LAST_LINE
        action = Action(
            options[index],
            confidence=float(share[index]),
            alternatives={v: round(float(p), 3) for v, p in zip(options, share, strict=True) if p >= 0.01},
        )
        if action.verb in SPANLESS:
            return [action], (LAST_LINE if action.verb == "none" else self._line_end())
        self.reader.feed(self.reader.tokens(":"))
        if action.verb == "add":
            asks_add, self.asks_add = self.asks_add, None  # this line adds what is asked
            action.span, ender = self.span(shown, places, 0, clause=True)
            # Asked in so many words first ("add milk"), an item on the list already is the planner's to answer
            # for; on a later line it is more likely the model's slip ("add bread and take #1 off").
            asked = "add" in self.said and not used
            # Nor, unasked, the words of a task the request names ("reopen the #1 task" is no "sprinkler" to add).
            taken = sorted(self.used - used)
            later = bool(used) and "add" not in self._cued(shown, places)
            slip = bool(action.span) and self._slip(action.span, shown, taken, places, later, asked)
            slip = slip or self._preamble(shown, taken, asks_add)
            # Words to the assistant are no item: the request is not about the list (on a later line, the answer
            # ends before them).
            lead = shown[: taken[0]] if taken else []
            aside = bool(action.span) and not asked and (speaks_to_you(action.span) or chatter(action.span, lead))
            if slip or aside:
                self.reader.rewind(mark)
                left.clear()
                left.update(untouched)
                self.used, self.asks_add = used, asks_add
                return None if slip else ([Action("none", confidence=action.confidence)], LAST_LINE)
            # "add X to the top": code reads where it goes (the model's span ends before those words).
            new = self.used - used
            placed = placed_first(shown, (min(new, default=len(shown)), max(new, default=len(shown))), self.tops)
            action.first = placed is not None
            taken = self._shape_add(action, shown, places, taken)
            before, after = self._siblings(shown, places, taken, action)
            # The words that point back to place it ("and put it") are no item of a later line; the phrase itself
            # is none already, and the answer has not read up to its end ("add oranges and grapes at the start").
            self.used |= set(placed or ()) - {i for start, end in self.tops for i in range(start, end)}
            return [*before, action, *after, *self._also_added(shown, taken, action.first)], ender
        # A move may say exactly where, which code reads: beside another task the request names ("above #2":
        # #2 stays where it is), or at a number ("#2", "third").
        near = beside(shown, set(left)) if action.verb in ("top", "bottom") and len(left) > 1 else None
        movable = {
            m: held
            for m, held in left.items()
            if (action.verb != "undo" or held[0].done) and (action.verb != "finish" or m not in self.undone)
        }
        mark_at = self._place(shown, {m: held for m, held in movable.items() if near is None or m != near[0]})
        action.task, action.span = left.pop(shown[mark_at].text)
        self.used.add(mark_at)
        if near is not None:
            action.anchor, action.after = left.pop(near[0])[0], near[1]
            self.used.add(self.where[near[0]])
        elif action.verb in ("top", "bottom"):
            action.place = numbered(shown, set(places))
        if action.verb == "rename":
            self.reader.feed(self.reader.tokens(RENAME_TO))
            # The new name is written after the old one, and is not itself an item of the list.
            begins = self.renaming.get(shown[mark_at].text)  # said in so many words: it begins there
            at = mark_at + 1 if begins is None else begins
            while begins is None and at < len(shown) and plain(shown[at].text) in FRAMES:
                at += 1  # "make the #1 one seltzer": the new name is "seltzer"
            action.new, ender = self.span(shown[at:], places, at, at_first=begins is not None)
            action.new = without_reference(action.new)
            said_whole = [plain(u.text) for u in shown[max(at - 2, 0) : at]] == ["call", "it"]  # "…, call it …"
            action.whole = said_whole or any(plain(u.text) in WHOLE_NAME for u in shown[max(at - 1, 0) : at + 1])
            if not action.new:  # said before the old one: "it's oat milk, not #1"
                action.new, ender = self.span(shown[:mark_at], places, 0)
            if self.respelling and all(plain(w.text) in TRAILING | STOP for w in words(action.new)):
                action.new = spelling.respelt(action.task.name, spelling.dictionary(self.reader.llm))  # "pls" no name
            new_words = [w for w in words(action.new) if plain(w.text) not in DETERMINERS | FRAMES]
            if len(new_words) == 1 and plain(new_words[0].text) in ENDS:  # "make #1 the first one"
                action.verb, action.new = ENDS[plain(new_words[0].text)], ""
            elif len(new_words) <= 2 and (place := numbered(new_words, set())) is not None:
                action.verb, action.new, action.place = "top", "", place  # "make #1 #2": a place, not a name
            return [action], ender
        # "remove #1 and #2": the list the request joins is split here, in code, one action per task.
        more = []
        for other in joined(shown, mark_at):  # not one said to be done by another verb ("delete #1, #2 is done too")
            if other in left and (action.verb == "finish" or not said_done(shown, self.where[other] + 1)):
                task, words_of = left.pop(other)
                self.used.add(self.where[other])
                more.append(Action(action.verb, span=words_of, task=task, confidence=action.confidence))
        return [action, *more], self._line_end()

    def _place(self, shown: list[Word], left: Places) -> int:
        """The placeholder the model acts on, among those not yet acted on: where it stands in the request."""
        marks = list(left)
        index, _ = self.reader.choose([self.reader.tokens(f" {m}") for m in marks])
        return next(i for i, unit in enumerate(shown) if unit.text == marks[index])

    def _unused(self, units: list[Word], i: int, offset: int = 0, clause: bool = True) -> bool:
        """Whether word `i` of `units` (word `offset + i` of the request) is free for a new span: no line used
        it, nor a later word of its clause ("delete" in "delete #1 and #2", but not "dust" in "add dust the
        shelves; remove #1"); after the words used, with `clause`, only a word of a new clause."""
        at = offset + i
        if at in self.used:
            return False
        later = [u for u in self.used if u > at]
        if later:
            # Words before a colon head what follows it ("shopping: #1"): they are no clause of their own.
            between = range(at + 1, min(later))
            return any(j - offset < len(units) and units[j - offset].text in CLAUSE_ENDS - {":"} for j in between)
        # After the words used, a new span begins a new clause: "#1 and #2 are done" says nothing more.
        earlier = [u for u in self.used if u < at]
        if not earlier or not clause:
            return True
        between = range(max(earlier) + 1, at)
        return any(j - offset >= 0 and units[j - offset].text.casefold() in CLAUSE_ENDS | CONNECTIVES for j in between)

    def _cued(self, shown: list[Word], places: Places) -> set[str]:
        """The verbs the request's words name for this line: on a later line, those of the next clause past the words
        the answer has read ("change #1 to …, and I don't need #2"), else the whole request's."""
        return said(self._next_clause(shown), places) if self.used else self.said

    def _next_clause(self, shown: list[Word]) -> list[Word]:
        """The words past those the answer has read, to the end of the first clause with a word of its own."""
        start = self.reached + 1
        ends = (i for i in range(start, len(shown)) if shown[i].text in CLAUSE_ENDS and self._worded(shown, start, i))
        return shown[start : next(ends, len(shown))]

    @staticmethod
    def _worded(shown: list[Word], start: int, end: int) -> bool:
        return any(any(ch.isalnum() for ch in u.text) for u in shown[start:end])

    @property
    def reached(self) -> int:
        """The furthest word of the request the answer has used (-1: none yet)."""
        return max(self.used, default=-1)

    def _enders(self) -> tuple[str, ...]:
        """How a line may end: while the request names a task no action has touched further on than the answer
        has read, in a clause of its own ("milk done, eggs done"), the answer goes on to another line (not for one
        it says is not done)."""
        ahead = any(self._apart(self.where[m]) for m in self.left if m not in self.undone)
        # Nor while it says "add" and no line has added what follows ("#1 and #2 are in, add pita bread").
        if (at := self.asks_add) is not None and at < len(self.units) - 1:
            units = self.units
            ahead = ahead or any(can_start(units[i]) and self._unused(units, i) for i in range(at + 1, len(units)))
        return (NEXT_LINE,) if ahead else (NEXT_LINE, LAST_LINE)

    def _apart(self, at: int) -> bool:
        """Whether word `at` lies past the words the answer used, in a clause of its own ("…, and #2": not "add a
        leash for the #1", where the task only says what the item is for)."""
        between = self.units[self.reached + 1 : at]
        return at > self.reached and any(u.text.casefold() in CLAUSE_ENDS | CONNECTIVES for u in between)

    def _line_end(self) -> str:
        enders = self._enders()
        index, _ = self.reader.choose([self.reader.tokens(e) for e in enders])
        return enders[index]

    def span(
        self, units: list[Word], places: Places, offset: int, clause: bool = False, at_first: bool = False
    ) -> tuple[str, str]:
        """Copy a span of the request: the model picks its first word (with `at_first`, the first word that may
        begin one), then each time either the word that follows or the end of the line (`_enders`); `units` start
        at word `offset` of the request, and the span at a word no earlier line used ("walk the dog ✔" is one
        action, not also "add: walk the dog ✔"). Returns the span (a placeholder in it as the words it hides) and
        the ender chosen."""
        # Words in quotes are a name as written: a span that begins at one is the whole quote.
        # (Keyed by the quote's first word that may begin a span; an emoji before it is part of the name.)
        quotes: dict[int, tuple[int, int]] = {}
        for first, end in self.quotes.items():
            if first < offset or not self._unused(units, first - offset, offset, clause):
                continue
            begin = next((j for j in range(first, end) if can_start(units[j - offset])), None)
            if begin is not None:
                quotes[begin - offset] = (first - offset, end - offset)
        # Nor does a span begin in, or run into, words that say where an item goes ("at the top").
        placing = {at - offset for start, end in self.tops for at in range(start, end)}
        starts: dict[str, list[int]] = {}
        for i, unit in enumerate(units):
            if i in placing:
                continue
            if (
                can_start(unit)
                and self._unused(units, i, offset, clause)
                and (i in quotes or not quotes or (self.unquoted or (-1,))[0] == i + offset)
            ):
                starts.setdefault(f" {unit.text}", []).append(i)
                if at_first:  # where it begins is known ("rename #1 to …")
                    break
        if not starts:
            return "", self._enders()[-1]
        texts = list(starts)
        index, _ = self.reader.choose([self.reader.tokens(t) for t in texts])
        at, taken = starts[texts[index]], [texts[index]]
        self.left.pop(texts[index].strip(), None)
        self.used.add(offset + at[0])
        # A new name said in so many words runs to its clause's end ("rename the #1 task to finish the report and
        # send it to the team"), as a quote is copied whole.
        whole = quotes.get(at[0]) or ((at[0], clause_end(units, at[0])) if at_first else None)
        if self.unquoted is not None and self.unquoted[0] == at[0] + offset:  # on into its quote
            whole = (at[0], self.unquoted[1] - offset)
        if whole is not None:
            first, end = whole
            taken = [f" {units[j].text}" if j == first else units[j].as_next() for j in range(first, at[0] + 1)]
            rest = units[at[0] + 1 : end]
            if rest:
                self.reader.feed(self.reader.tokens("".join(u.as_next() for u in rest)))
            for i, unit in enumerate(rest, at[0] + 1):
                taken.append(unit.as_next())
                self.left.pop(unit.text, None)
                self.used.add(offset + i)
            enders = self._enders()
            index, _ = self.reader.choose([self.reader.tokens(e) for e in enders])
            return unmask(taken, places), enders[index]
        # An emoji just before the first word is part of the item ("🍕 pizza night").
        if all(i > 0 and is_symbol(units[i - 1]) for i in at):
            taken.insert(0, f" {units[at[0] - 1].text}")
        for _ in range(MAX_SPAN_WORDS):
            following: dict[str, list[int]] = {}
            for i in at:
                if i + 1 < len(units) and i + 1 not in placing:
                    following.setdefault(units[i + 1].as_next(), []).append(i + 1)
            # A span does not end before "the", "my" … ("clean the windows" is one item), nor before the one word
            # left of its clause when that word names something ("we need coffee filters" is not "coffee"), as a
            # word of thanks, time or pointing would not; it ends where no word follows.
            goes_on = all(dangling(units, i + 1) or runs_into(units, i + 1) for i in at)
            open_ended = bool(following) and (all(w.strip().casefold() in DETERMINERS for w in following) or goes_on)
            enders = self._enders()
            options = list(following) + [e for e in enders if e not in following and not open_ended]
            index, _ = self.reader.choose([self.reader.tokens(o) for o in options])
            if options[index] in enders and options[index] not in following:
                if all(i + 1 < len(units) and is_symbol(units[i + 1]) for i in at):
                    taken.append(units[at[0] + 1].as_next())  # and an emoji just after the last word
                return unmask(taken, places), options[index]
            at = following[options[index]]
            taken.append(options[index])
            self.left.pop(options[index].strip(), None)  # a task named in the copied words is dealt with
            self.used.add(offset + at[0])
        return unmask(taken, places), self._enders()[-1]
