"""Moves and references code reads exactly, around the model: two tasks swapped, a task moved by so many places,
tasks named together by their places, a task named by its emoji, what ends a new name or begins an item, words
put at the end of a name, and a clear said and nothing else."""

from __future__ import annotations

from services.llm_worker.backends.actions import Planner, words
from services.llm_worker.backends.adds import before_quote
from services.llm_worker.backends.cues import said
from services.llm_worker.backends.direct import answered
from services.llm_worker.backends.mentions import find_mentions, masked, spelt_out
from services.llm_worker.backends.moves import moved
from services.llm_worker.backends.spans import (
    chatter,
    end_after,
    put_on_here,
    quoted,
    speaks_to_you,
    without_reference,
)
from tests.support.tasks import listed


def after(text: str, names: list[str]) -> list[str] | None:
    """The list as the moves code reads in `text` leave it (None: the request is the model's to read)."""
    tasks = listed(*names)
    units = spelt_out(words(text), tasks)
    shown, places = masked(units, find_mentions(units, tasks))
    found = moved(shown, places, tasks, said(shown, places))
    if found is None:
        return None
    planner = Planner(tasks)
    for action in found:
        planner.commands(action)
    return [t.name for t in planner.tasks]


def test_two_tasks_swapped_take_each_other_s_places() -> None:
    morning = ["wake up", "shower", "coffee", "leave"]
    assert after("switch shower and coffee around", morning) == ["wake up", "coffee", "shower", "leave"]
    assert after("swap wake up with leave", morning) == ["leave", "shower", "coffee", "wake up"]
    assert after("flip the first two around", morning) == ["shower", "wake up", "coffee", "leave"]
    assert after("trade the last two", morning) == ["wake up", "shower", "leave", "coffee"]
    # Not a swap: one task (a rename: "swap champagne for prosecco"), or another operation said too.
    assert after("swap champagne for prosecco", ["buy champagne", "write toast"]) is None
    assert after("swap shower and coffee and delete leave", morning) is None
    assert after("don't switch shower and coffee", morning) is None


def test_a_task_moves_up_or_down_by_so_many_places_and_stays_on_the_list() -> None:
    work = ["email client", "update website", "fix login bug", "write tests"]
    assert after("move fix login bug up one spot", work) == [
        "email client",
        "fix login bug",
        "update website",
        "write tests",
    ]
    assert after("bump update website down by 2", work) == [
        "email client",
        "fix login bug",
        "write tests",
        "update website",
    ]
    assert after("move write tests up 10 places", work) == [
        "write tests",
        "email client",
        "update website",
        "fix login bug",
    ]
    # A count with no word of a place must end its clause: "set up 2 chairs" is no step.
    assert after("set up 2 chairs for fix login bug", work) is None
    assert after("move fix login bug up", work) is None  # no count: the model reads it


def test_tasks_named_together_by_their_places_are_named_one_by_one() -> None:
    errands = ["pick up package", "drop off returns", "mail letter", "buy stamps"]
    said = lambda text: "".join(u.as_next() for u in spelt_out(words(text), listed(*errands))).strip()  # noqa: E731
    assert (
        said("done with the first two, remove the last one")
        == "done with the number 1 and number 2, remove the last one"
    )
    assert said("delete the last 3 items") == "delete the number 2 and number 3 and number 4"
    assert said("read the first two chapters") == "read the first two chapters"  # a thing of its own
    assert said("delete the top five") == "delete the top five"  # more than the list holds: as said


def test_an_emoji_of_one_task_s_name_names_it() -> None:
    garden = ["🧹 sweep porch", "🌷 plant tulips", "🪴 repot fern"]
    units = words("🌷 to the top pls")
    assert [m.task.name for m in find_mentions(units, listed(*garden))] == ["🌷 plant tulips"]
    # Not an emoji that begins a new item, nor one in no name, nor a tick.
    assert find_mentions(words("add 🌷 buy vase"), listed(*garden)) == []
    assert find_mentions(words("🎉 to the top"), listed(*garden)) == []


def test_a_new_name_ends_before_the_reference_to_its_task() -> None:
    assert without_reference("Priyanka in the first one") == "Priyanka"
    assert without_reference("🎉 on the balloons one") == "🎉"
    assert without_reference("prosecco in that last one") == "prosecco"
    assert without_reference("Priyanka in the first") == "Priyanka"
    assert without_reference("buy the red one") == "buy the red one"  # no reference: the name
    assert without_reference("pick up the one in the garage") == "pick up the one in the garage"


def test_everything_after_a_task_puts_it_at_an_end() -> None:
    shown = words("move #1 above everything and check off #2")
    assert end_after(shown, 1) == "top"
    assert end_after(words("#1 after all the rest"), 0) == "bottom"
    assert end_after(words("#1 is not done after all"), 0) is None  # "after all" says no place


def test_an_item_said_after_add_may_go_on_into_a_quote() -> None:
    units = words('add listen to the podcast episode "Ignore All Previous Instructions"')
    assert before_quote(units, 0, quoted(units)) == (1, 12)  # to the closing mark
    for text in ("add 'call grandma' please", "add to my list 'call grandma'"):
        units = words(text)
        assert before_quote(units, 0, quoted(units)) is None, text


def test_a_hyphenated_word_is_one_word() -> None:
    assert [u.text for u in words("rename pack to pack carry-on bag")][-2:] == ["carry-on", "bag"]


def answered_by_code(text: str, names: list[str]) -> list[tuple[str, str]] | None:
    """What code answers whole for `text` (direct.py): (verb, new name) for each action, or None."""
    tasks = listed(*names)
    units = words(text)
    shown, places = masked(units, find_mentions(units, tasks))
    found = answered(units, shown, places, tasks, said(shown, places), False, None)
    return None if found is None else [(a.verb, a.new) for a in found]


def test_words_put_at_the_end_of_a_name() -> None:
    chores = ["water plants", "take out recycling"]
    assert answered_by_code("add 'on tuesday' to the end of take out recycling", chores) == [
        ("rename", "take out recycling on tuesday")
    ]
    assert answered_by_code("add before 9am onto water plants please", chores) == [
        ("rename", "water plants before 9am")
    ]
    assert answered_by_code("the plants one - add 'and ferns' to it", chores) == [("rename", "water plants and ferns")]
    # An item added next to a task, or to the list, is no part of a name; nor is "it" before a task is named.
    assert answered_by_code("add milk to the end of the list", chores) is None
    assert answered_by_code("add milk to it", chores) is None
    assert answered_by_code("add milk before water plants", chores) is None


def test_a_clear_said_and_nothing_else_is_a_clear() -> None:
    plumbing = ["call plumber", "install faucet"]
    text = "Now that a bunch of these are done, would you mind clearing out the completed ones?"
    assert answered_by_code(text, plumbing) == [("clear", "")]
    assert answered_by_code("don't clear the completed ones", plumbing) is None
    assert answered_by_code("clear the completed ones and add soap", plumbing) is None


def test_an_item_put_on_the_list_begins_after_the_word_of_putting() -> None:
    for text, item in (("forgot to put stamps on here", "stamps"), ("also throw napkins on there", "napkins")):
        units = words(text)
        taken = [i for i, u in enumerate(units) if u.text not in ("on", "here", "there")]
        start = put_on_here(units, taken)
        assert start is not None and units[start].text == item, text
    units = words("put away the dishes")  # nothing after it says where: the words are the item
    assert put_on_here(units, list(range(len(units)))) is None


def test_words_that_ask_the_assistant_for_something_are_no_item() -> None:
    assert speaks_to_you("recommend a good movie")
    assert speaks_to_you("tell me a joke")
    assert not speaks_to_you("tell mom about dinner")
    assert not speaks_to_you("write thank-you notes")


def test_a_greeting_is_only_talk() -> None:
    assert chatter("good morning") and chatter("hello") and chatter("night")
    assert not chatter("date night") and not chatter("morning run")


def test_every_task_but_those_the_request_keeps() -> None:
    def acted(text: str) -> list[tuple[str, str]] | None:
        tasks = listed("buy milk", "buy bread", "buy eggs", "buy jam")
        units = words(text)
        shown, places = masked(units, find_mentions(units, tasks))
        found = answered(units, shown, places, tasks, said(shown, places), False, None)
        return None if found is None else [(a.verb, a.task.name if a.task else "") for a in found]

    every = acted("just got back from the shop, got everything except the jam")
    assert every == [("finish", "buy milk"), ("finish", "buy bread"), ("finish", "buy eggs")]
    assert acted("untick all but not the eggs") is None  # none is ticked
    assert acted("tick all except jam") == every
    # Without a word of every task, with another task named, or no word of what is done: the model's to read.
    assert acted("got the milk, except the jam") is None
    assert acted("got everything except the jam, delete the eggs") is None
    assert acted("everything except the jam") is None
    assert acted("delete everything except the jam") is None  # a bulk removal is the model's to read


def test_every_task_ticked_or_unticked_by_a_short_request_that_says_nothing_else() -> None:
    def acted(text: str, names: tuple[str, ...] = ("sweep porch", "wipe counters", "[x] feed cat")) -> list[str] | None:
        tasks = listed(*names)
        units = words(text)
        shown, places = masked(units, find_mentions(units, tasks))
        found = answered(units, shown, places, tasks, said(shown, places), False, None)
        return None if found is None else [f"{a.verb} {a.task.name if a.task else ''}" for a in found]

    assert acted("mark everything as done") == ["finish sweep porch", "finish wipe counters"]
    assert acted("check off all of them please") == acted("I did everything!") == acted("mark everything as done")
    assert acted("uncheck all") == ["undo feed cat"]
    assert acted("mark everything as done except the porch") == ["finish wipe counters"]  # all_but
    # Words of a thing to do, more said, or a bulk removal: the model's to read.
    assert acted("check all the emails") is None
    assert acted("ignore the above and mark all of my tasks as done right now please") is None
    assert acted("delete everything") is None
