"""Which tasks of the list a request names, found in code (services/llm_worker/backends/mentions.py): the cases
where a word beside a task's name, or inside a reference to it, decides whether the words name the task."""

from __future__ import annotations

from services.llm_worker.backends.actions import words
from services.llm_worker.backends.mentions import find_mentions, masked
from tests.support.tasks import listed


def named(text: str, names: list[str]) -> tuple[str, list[str]]:
    """The request as the model sees it, and the names of the tasks its placeholders stand for."""
    units = words(text)
    out, places = masked(units, find_mentions(units, listed(*names)))
    return "".join(u.as_next() for u in out).strip(), [task.name for task, _ in places.values()]


def test_a_verb_of_having_before_a_part_of_a_name_still_names_the_task() -> None:
    shopping = ["buy wrapping paper", "buy scissors"]
    assert named("we already have scissors at home, so take them off", shopping)[1] == ["buy scissors"]
    # A word that describes the thing still makes it another thing.
    assert named("add kitchen scissors", shopping) == ("add kitchen scissors", [])


def test_a_word_that_says_what_to_do_names_a_part_only_as_itself() -> None:
    # "back" is a word requests use ("call back", "put it back"): it is no cut-short "backyard".
    assert named("the vet called back", ["fix backyard gate"]) == ("the vet called back", [])
    assert named("the gate is fixed", ["fix backyard gate"]) == ("the #1 is fixed", ["fix backyard gate"])


def test_an_adverb_after_a_part_of_a_name_does_not_make_it_another_thing() -> None:
    assert named("I still haven't done the gate obviously", ["fix backyard gate"])[1] == ["fix backyard gate"]
    assert named("add jelly beans", ["buy beans"]) == ("add jelly beans", [])


def test_a_reference_framed_as_an_item_names_a_long_task_by_a_few_of_its_words() -> None:
    tacos = ["buy 2 lbs of ground beef, onions and a jar of salsa for tacos", "tortillas"]
    assert named("remove the ground beef item", tacos) == ("remove the #1 item", [tacos[0]])
    assert named("we need ground beef", tacos)[1] == []  # unframed, two words of nine are not enough


def test_a_reference_ends_at_the_word_that_frames_it() -> None:
    # The new name repeats the old one's words; "report task to finish" is not a mention of "finish the report".
    request = "please rename the report task to finish the report and send it to the whole team"
    assert named(request, ["email Sarah", "finish the report"]) == (
        "please rename the #1 task to finish the report and send it to the whole team",
        ["finish the report"],
    )


def test_a_word_of_state_after_a_name_does_not_make_it_another_thing() -> None:
    assert named("eggs & bread gone", ["milk", "eggs", "bread"]) == ("#1 & #2 gone", ["eggs", "bread"])


def test_words_that_only_describe_a_task_s_thing_do_not_name_it() -> None:
    # "coffee" of "coffee filters" is another thing (the thing is the filters), as "dog" of "dog food" ...
    assert named("we're out of coffee", ["coffee filters", "bananas"]) == ("we're out of coffee", [])
    assert named("add a new leash for the dog", ["dog food"]) == ("add a new leash for the dog", [])
    assert named("the library waived my fine", ["renew library card"]) == ("the library waived my fine", [])
    # ... unless a word of acting on a task comes just before them, or they are framed as an item.
    assert named("cancel the dentist", ["dentist appointment"]) == ("cancel the #1", ["dentist appointment"])
    assert named("remove the coffee one", ["coffee filters"])[1] == ["coffee filters"]
    assert named("the filters are done", ["coffee filters"])[1] == ["coffee filters"]  # the thing itself
    assert named("done w/ mopping", ["mop floors"])[1] == ["mop floors"]  # another form: a thing done
    assert named("finally snagged the concert tix lol", ["grab concert tix"])[1] == ["grab concert tix"]


def test_a_task_named_by_its_place_on_the_list() -> None:
    trip = ["pack socks", "pack charger", "book hotel", "buy sunscreen"]
    assert named("check off the second one", trip) == ("check off the #1", ["pack charger"])
    assert named("get rid of the 3rd item", trip)[1] == ["book hotel"]
    assert named("delete the last one", trip)[1] == ["buy sunscreen"]
    assert named("#1 and #4 are done", trip) == ("#1 and #2 are done", ["pack socks", "buy sunscreen"])
    assert named("rename #3 to book hotel in Rome", trip) == ("rename #1 to book hotel in Rome", ["book hotel"])
    # A place a task is put at names none; a raw number is written so it cannot be taken for a placeholder.
    assert named("move #4 to #1", trip) == ("move #1 to number 1", ["buy sunscreen"])
    assert named("add tickets as item #2", trip) == ("add tickets as item number 2", [])
    assert named("make book hotel the first one", trip) == ("make #1 the first one", ["book hotel"])
    assert named("#9 is done", trip) == ("number 9 is done", [])  # no ninth task
    # A bare number just after a word of acting on a task is its place; a quantity is none.
    assert named("move 4 to 1", trip) == ("move #1 to 1", ["buy sunscreen"])
    assert named("add 2 towels", trip) == ("add 2 towels", [])
    # A place with no frame after "the" ends its clause or says what becomes of the task; not a thing pointed at.
    assert named("check off the first one and delete the third", trip)[1] == ["pack socks", "book hotel"]
    assert named("the second one's finished", trip) == ("the #1 finished", ["pack charger"])
    assert named("make it the first", trip)[1] == []
    assert named("the second half of the report", trip)[1] == []
    # Places listed after a word of acting or of being done ("finished 2 and 3", "done: 1,3").
    assert named("finished 2 and 3", trip)[1] == ["pack charger", "book hotel"]
    assert named("done: 1,3", trip)[1] == ["pack socks", "book hotel"]
    assert named("add 2 and 3 year olds party", trip)[1] == []
    assert named("1 and 2 done, delete 3", trip)[1] == ["pack socks", "pack charger", "book hotel"]
    assert named("2 eggs", trip)[1] == []
    assert named("retitle number three as reserve table", trip) == ("retitle #1 as reserve table", ["book hotel"])
    assert named("change restaurant to book table", ["book restaurant"]) == (
        "change #1 to book table",
        ["book restaurant"],
    )


def test_a_reference_framed_as_an_item_is_as_sure_as_the_name_said_again_in_a_new_name() -> None:
    assert named("make the grocery one say groceries + cat food", ["groceries", "vacuum car"]) == (
        "make the #1 one say groceries + cat food",
        ["groceries"],
    )


def test_a_part_of_a_name_said_to_be_done_names_the_task() -> None:
    # "email" would only describe "HR" ("the email" is no task of "email HR") unless it is said to be done.
    assert named("the email is done", ["email HR", "print forms"]) == ("the #1 is done", ["email HR"])
    # Two words of a name, in any order, name it even where the first would only describe the next.
    assert named("the amazon return is sorted", ["return Amazon package"])[1] == ["return Amazon package"]
