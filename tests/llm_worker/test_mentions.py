"""Which tasks of the list a request names, found in code (services/llm_worker/backends/mentions.py): the cases
where a word beside a task's name, or inside a reference to it, decides whether the words name the task."""

from __future__ import annotations

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import words
from services.llm_worker.backends.mentions import find_mentions, masked


def named(text: str, names: list[str]) -> tuple[str, list[str]]:
    """The request as the model sees it, and the names of the tasks its placeholders stand for."""
    tasks = [TaskPublic(id=n + 1, name=name, done=False, position=n, version=1) for n, name in enumerate(names)]
    units = words(text)
    out, places = masked(units, find_mentions(units, tasks))
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
