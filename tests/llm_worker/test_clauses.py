"""Where a request's further clause begins: code's part of reading several actions in one request (the model
reads each clause; tests/llm_worker/test_embedded.py runs both together)."""

from __future__ import annotations

import pytest

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import Action, words
from services.llm_worker.backends.clauses import _operation, _resolved, _ticks_added, clauses
from services.llm_worker.backends.placing import numbered, placed_first, top_phrases
from services.llm_worker.backends.spans import chatter, dangling, names_the_list, runs_into
from tests.support.tasks import listed


def test_it_in_a_further_clause_is_what_the_clause_before_acted_on() -> None:
    cheese = TaskPublic(id=3, name="cheese", done=False, position=2, version=1)
    milk = TaskPublic(id=2, name="milk", done=False, position=1, version=1)
    said = lambda units: "".join(u.as_next() for u in units).strip()  # noqa: E731
    assert said(_resolved(words("move it to the top"), [cheese])) == "move cheese to the top"
    assert said(_resolved(words("then delete them"), [cheese, milk])) == "then delete cheese and milk"
    # Nothing acted on a task before (an add): the clause stays as it is.
    assert said(_resolved(words("move it to the top"), [])) == "move it to the top"


def test_a_further_clause_ticking_what_the_clause_before_added_ticks_it_by_name() -> None:
    added = [Action("add", span="reply to Sarah")]
    ticks = [Action("finish", span="reply to Sarah")]
    tasks = listed("milk", "put up shelves")
    assert _ticks_added(words("tick it, I just did it"), added, tasks) == ticks
    assert _ticks_added(words("and mark it as done"), added, tasks) == ticks
    # Another operation, a task named, nothing pointing back, or a clause before that did more than add: no tick.
    assert _ticks_added(words("and delete it"), added, tasks) == []
    assert _ticks_added(words("put it first, the shelves are done"), added, tasks) == []
    assert _ticks_added(words("tick the milk"), added, tasks) == []
    assert _ticks_added(words("tick it"), [*added, Action("remove", span="milk")], tasks) == []


def test_a_further_clause_s_words_that_begin_with_an_operation_are_no_item() -> None:
    assert _operation(Action("add", span="change every task to done"))
    assert _operation(Action("add", span="delete the whole list"))
    assert not _operation(Action("add", span="put up shelves")) and not _operation(Action("add", span="oil change"))


def test_a_reason_after_the_request_is_no_item() -> None:
    assert chatter("not happening this week") and chatter("lol nvm")
    assert chatter("this week", words("delete yoga and piano, not"))  # the model's span began after "not"
    assert not chatter("this week", words("add yoga"))
    assert chatter("assistant override", words("[["))  # markup
    assert not chatter("nothing bundt cakes order") and not chatter("knot the rope")


def cut(text: str) -> list[str]:
    units = words(text)
    return ["".join(u.as_next() for u in units[start:end]).strip() for start, end in clauses(units)]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("tick off milk and add cream", ["tick off milk", "add cream"]),
        ("add garlic. add parsley.", ["add garlic", "add parsley."]),
        ("remove milk, remove eggs, add bread", ["remove milk", "remove eggs", "add bread"]),
        ("add milk and then please remove eggs", ["add milk", "remove eggs"]),
        # Only a word that can only mean an operation on the list begins a clause: two tasks stay one item...
        ("please add mop the floor and clean the windows", ["please add mop the floor and clean the windows"]),
        # ...and such a word needs the end of a clause before it, and words of a clause before that.
        ("add remove the old paint", ["add remove the old paint"]),
        ("and add cream", ["and add cream"]),
        ("add apples", ["add apples"]),
        # "please" joins but ends no clause: a polite request is one.
        ("could you please put 'fix the door' on my list", ["could you please put 'fix the door' on my list"]),
        ("add milk, please add eggs", ["add milk", "add eggs"]),
        ("change cheese to cheddar and move it to the top", ["change cheese to cheddar", "move it to the top"]),
        ("called the vet. and get rid of the litter one", ["called the vet", "get rid of the litter one"]),
        (
            "uncheck the chips one and change it to chips and dip",
            ["uncheck the chips one", "change it to chips and dip"],
        ),
        (
            "can you unmark the rent? it bounced. and drop the gym",
            ["can you unmark the rent? it bounced", "drop the gym"],
        ),
        # Words in quotes are a name, or what someone else wrote: no clause begins there.
        (
            "Sam wrote: 'add milk. also delete the dog' – add milk",
            ["Sam wrote: 'add milk. also delete the dog' – add milk"],
        ),
    ],
)
def test_a_further_clause_begins_at_an_operation_after_the_end_of_another(text: str, parts: list[str]) -> None:
    assert cut(text) == parts


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("add butter to the top", ["to the top"]),
        ("add 'stamps' at the very start of my shopping list, please", ["at the very start of my shopping list"]),
        ("add cheese first", ["first"]),
        ("add cheese at the bottom", []),
        # Said of a thing, not of the list: the words go on past "top" in their clause.
        ("add clean the top shelf", []),
        ("add milk to the top shelf", []),
        ("first, add milk", ["first"]),  # found, but it follows no span: see below
    ],
)
def test_where_a_request_says_its_new_items_go_first(text: str, phrases: list[str]) -> None:
    units = words(text)
    found = top_phrases(units)
    assert ["".join(u.as_next() for u in units[s:e]).strip() for s, e in found] == phrases


@pytest.mark.parametrize(
    ("text", "span", "placing"),
    [
        ("add oranges and grapes at the top", (1, 1), "at the top"),  # "oranges": "and grapes" is more of the same
        ("add oranges and grapes at the top", (1, 3), "at the top"),
        ("add butter and move #1 to the top", (1, 1), None),  # the move's phrase, not the add's
        ("add butter, then #1 at the top", (1, 1), None),
        ("first, add milk", (3, 3), None),  # nothing comes after the item, and "first," is first of all
        # An operation on what was just added places it: its words are the placing's, no item of their own.
        ("add book dentist and put it at the top", (1, 2), "and put it at the top"),
        ("add milk and eggs, then move them to the top", (1, 1), ", then move them to the top"),
        # Or a phrase just before the item, after "add" or beginning its clause.
        ("add at top: call family", (4, 5), "at top"),
        ("at the very top add call family", (5, 6), "at the very top"),
        ("milk is done. at the top, add eggs", (9, 9), "at the top"),
        ("move #1 to the top, add eggs", (7, 7), None),  # the move's phrase
    ],
)
def test_an_add_goes_first_only_by_a_phrase_of_its_own_clause(
    text: str, span: tuple[int, int], placing: str | None
) -> None:
    units = words(text)
    placed = placed_first(units, span, top_phrases(units))
    assert placed is None if placing is None else "".join(units[i].as_next() for i in placed).strip() == placing


@pytest.mark.parametrize(
    ("span", "the_list"),
    [
        ("summarize my list", True),
        ("tidy up the list", True),
        ("check my to-do list", True),
        ("milk to my list", False),  # placed on the list: the item is still there to be found
        ("make the guest list", False),  # a list of its own is a thing to do
        ("list", False),
    ],
)
def test_words_that_speak_of_the_list_itself_are_no_item(span: str, the_list: bool) -> None:
    assert names_the_list(span) is the_list


@pytest.mark.parametrize(
    ("text", "at", "left_behind"),
    [
        ("we need coffee filters", 3, True),  # the last word of the request names something
        ("also coffee filters please", 2, True),  # only words of thanks or time after it
        ("add oat milk", 1, False),  # another word that names something comes after it in its clause...
        ("add milk. eggs too", 1, True),  # ...not after the clause's end
        ("could I get parmesan on there too?", 4, False),  # "on there too": no word that names
        ("add milk and eggs", 1, False),
        ("add #1 now", 1, False),  # a task of the list is no new item's word
    ],
)
def test_a_span_does_not_leave_the_last_word_of_its_clause_behind(text: str, at: int, left_behind: bool) -> None:
    assert dangling(words(text), at) is left_behind


@pytest.mark.parametrize(
    ("text", "at", "more"),
    [
        ("add call grandma about sunday dinner", 3, True),  # more of the same item after "about"
        ("add dentist at 3pm", 2, True),
        ("add milk at the top", 2, False),  # a place on the list
        ("add stamps from here", 2, False),
        ("add milk before, thanks", 2, False),  # nothing named after it in its clause
        ("add eggs for the cake", 2, False),  # "for" says what for: the model decides
    ],
)
def test_an_item_runs_on_past_a_word_that_qualifies_it(text: str, at: int, more: bool) -> None:
    assert runs_into(words(text), at) is more


def test_a_shortened_word_keeps_its_stop_and_a_bare_number_ending_a_clause_is_a_place() -> None:
    assert [w.text for w in words("call Dr. Patel. Then eggs")] == ["call", "Dr.", "Patel", ".", "Then", "eggs"]
    assert numbered(words("move #1 to 1"), {"#1"}) == 0
    assert numbered(words("change #1 to 2 liters"), {"#1"}) is None
