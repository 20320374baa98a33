"""The words of a request that name an operation: code's weight on the model's choice of verb
(services/llm_worker/backends/cues.py; tests/llm_worker/test_embedded.py runs it with the model)."""

from __future__ import annotations

import numpy as np
import pytest

from proto.messages import TaskPublic
from services.llm_worker.backends.actions import words
from services.llm_worker.backends.cues import CUE_WEIGHS, asks_you, kept, renames, said, unfinished, weighed
from services.llm_worker.backends.matching import stem
from services.llm_worker.backends.mentions import find_mentions, masked
from tests.support.tasks import listed


@pytest.mark.parametrize(
    ("text", "verbs"),
    [
        ("could you change #1 to oat milk", {"rename"}),
        ("please get rid of #1", {"remove"}),
        ("Deleted the typo in #1", {"remove", "rename"}),  # another form of a word names its verb too
        ("#1 isn’t done after all", {"undo"}),  # a done-word after "not" (either apostrophe)
        ("please remove the completed ones", {"remove", "clear"}),  # removing and done, no task named
        ("remove #1, it's done", {"remove"}),  # a task named: it is removed, the list is not cleared
        ("do not add anything", set()),  # a word after "not" names nothing
        ("don't delete #1", set()),
        ("I bought #1", set()),  # the model reads a finish well: no word is needed for it
        ("hello there", set()),
        # A slip of a letter names the verb too, but a letter changed makes another word.
        ("remvoe #1 and #2", {"remove"}),
        ("delte #1", {"remove"}),
        ("clean the kitchen", set()),
        ("charge the phone", set()),
        ("bin the #1 task", {"remove"}),
        ("cancel #1", {"remove"}),
        ("just tick #1", {"finish"}),
        ("#1 is a bit much, so take those off", {"remove"}),
        ("I ticked #1 by mistake", set()),  # it tells of a tick; it does not ask for one
        ("could you check off the #1 one?", {"finish"}),
        ("mark #1 off", {"finish"}),
        ("check the oil", set()),
        ("can you clean up the ones I already finished?", {"clear"}),  # tidied, done, no task named
        ("clean up the garage", set()),
        ("I don't need to see the things I've already handled anymore", {"clear"}),  # not needed, done, none named
        ("I don't need a handle for the door", set()),
        ("+ phone charger", {"add"}),  # a plus first adds
        ("milk + eggs", set()),
    ],
)
def test_the_operations_a_request_names(text: str, verbs: set[str]) -> None:
    assert said(words(text)) == verbs


LIST = listed("vacuum the living room", "water the plants", "used books", "pay rent")


def test_a_ticked_task_needed_is_needed_again() -> None:
    ticked = [TaskPublic(id=1, name="coffee", done=True, position=0, version=2), *LIST[1:]]

    def verbs(text: str) -> set[str]:
        units = words(text)
        return said(*masked(units, find_mentions(units, ticked)))

    assert verbs("we still need coffee") == {"undo"}
    assert verbs("we need to water the plants") == set()  # a task named, but none of them ticked
    # Not needed is no tick taken back: the task is to come off ("I don't need #1 anymore").
    assert verbs("we no longer need coffee") == {"remove"}
    assert verbs("I don't need coffee") == {"remove"}


@pytest.mark.parametrize(
    ("text", "verbs"),
    [
        ("vacuumed the living room", {"finish"}),  # the task's own first word, in the past: done
        ("watered my plants", {"finish"}),
        ("I watered the plants this morning", {"finish"}),
        ("used books", set()),  # the name's own word, as it is: nothing said
        ("vacuum the living room", set()),
        ("paid rent", {"finish"}),  # an irregular past of it too
        ("paying rent", set()),  # another form, not a past: the model reads it
        ("added the living room", {"add"}),  # a past tense, but not of the task's word
    ],
)
def test_a_task_s_own_verb_in_the_past_says_it_is_done(text: str, verbs: set[str]) -> None:
    units = words(text)
    shown, places = masked(units, find_mentions(units, LIST))
    assert said(shown, places) == verbs


def test_a_named_verb_is_weighed_up_and_the_rest_keep_their_order() -> None:
    options = ["add", "remove", "clear", "none"]
    share = np.array([0.7, 0.1, 0.1, 0.1])
    out = weighed(options, share, {"remove"})
    assert out.sum() == pytest.approx(1.0)
    assert out[1] / out[2] == pytest.approx(CUE_WEIGHS)
    assert out[0] / out[3] == pytest.approx(7.0)
    # A verb named but not among the choices (no task to rename) leaves the model's share as it is.
    assert weighed(options, share, {"rename"}) is share


def test_a_polite_question_asking_for_an_operation_is_a_request() -> None:
    options = ["undo", "remove", "none"]
    share = np.array([0.05, 0.25, 0.7])  # the model's lean: a question, or a removal
    assert options[int(weighed(options, share, {"undo"}, words("can you unmark #1?")).argmax())] == "undo"
    options = ["add", "remove", "none"]
    share = np.array([0.02, 0.36, 0.62])
    assert options[int(weighed(options, share, {"remove"}, words("would you mind deleting #1?")).argmax())] == "remove"
    # Not asked of the assistant ("did I …"): "none" keeps its share against the verbs not named.
    asked, not_asked = (
        weighed(options, share, {"remove"}, words(t)) for t in ("can you delete #1", "did I delete #1?")
    )
    assert not_asked[2] / not_asked[0] == pytest.approx(31.0) and asked[2] / asked[0] == pytest.approx(
        31.0 / CUE_WEIGHS
    )
    assert asks_you(words("could u move #1 up")) and not asks_you(words("you can move #1 up"))


def test_a_rename_said_in_so_many_words() -> None:
    for text, begins in (
        ("Could you change '#1' to 'dentist Tuesday 10am'?", "'"),
        ("rename the #1 task to call mom", "call"),
        ("update #1 -> rent", "rent"),
        ("#1 is actually finish the draft report", "finish"),
        ("#1 should say buy oat milk", "buy"),
        ("could you change the #1 one to say video call grandma", "video"),
        ("rename #1 to read Dune", "read"),  # a name may begin with "read" …
        ("change #1 to read 'Dune'", "'"),  # … unless a quote follows it
        ("the #1 one, make it say pick up cake at 4pm", "pick"),  # "it": the one task named
        ("make #1 say call grandma", "call"),
        ("the #1 one — actually call it reserve table at Luigi's", "reserve"),  # "call it": the one task named
        ("#1 should be 'find a roommate for spring'", "find"),
        ("could you change '#1' so that it reads 'call Ann and Bo'?", "call"),
        ("change the #1 one so it says buy oat milk", "buy"),
        ("shortn #1 to just clean bathroom", "clean"),  # a slip of "shorten"; "just" is no part of the name
        ("the #1 one, make it plan surprise party for Jo", "plan"),  # "make it": the one task named
        ("#1 → dust all shelves, and move it first", "dust"),
    ):
        units = words(text)
        found = renames(units, {"#1"})
        assert list(found) == ["#1"] and units[found["#1"]].text == begins, text
    # No new name, no task named, or "not": no such rename.
    for text in (
        "change #1",
        "change the oil to synthetic",
        "don't change #1 to x",
        "add #1 to the list",
        "make it say hello, then #1",  # "it" before any task is named
        "call it a day, then #1",  # "it" before any task is named
        "#1 should be moved up",  # a state, not a name
        "change #1 so it is done",
        "the #1 one, make it the first",  # a place, a state
        "the #1 one, make it urgent",
    ):
        assert not renames(words(text), {"#1"})


def cues_of(text: str, names: list[str]) -> set[str]:
    units = words(text)
    return said(*masked(units, find_mentions(units, listed(*names))))


def test_a_move_and_a_new_name_said_in_other_words() -> None:
    trip = ["book hotel", "buy JR pass"]
    assert cues_of("move the JR pass to the very top of the list", trip) == {"top", "bottom"}
    assert cues_of("the JR pass should come first", trip) == {"top"}
    assert cues_of("add socks to the very top", trip) == {"add"}  # no task named: where an add goes, no move
    assert cues_of("don't move the JR pass", trip) == set()
    work = ["finish the report"]
    assert cues_of("finish the report is actually finish the draft report", work) == {"rename"}
    assert cues_of("finish the report should say write the report", work) == {"rename"}
    assert cues_of("finish the report is actually done", work) == set()
    assert cues_of("finish the report is actually in my bag", work) == set()


def test_a_task_said_not_to_be_done_is_told_apart() -> None:
    def undone(text: str) -> set[str]:
        return unfinished(words(text), {"#1", "#2", "#3"})

    assert undone("#1 is done and #2 too, but I still haven't done #3 obviously") == {"#3"}
    assert undone("#2 isn't finished yet, #1 is") == {"#2"}
    assert undone("I didn't buy #1 but #2 is done") == {"#1"}
    assert undone("#1 has to be ordered before we leave, #2 is done") == {"#1"}  # still to do
    assert undone("I still need to #2") == {"#2"}
    assert undone("got #1, still need #2") == {"#2"}
    assert undone("#1 is done, not sure about the rest") == set()  # the negation is of another clause


def test_a_task_said_to_be_left_as_it_is_is_told_apart() -> None:
    def left(text: str) -> set[str]:
        return kept(words(text), {"#1", "#2", "#3"})

    assert left("remove #1 and #2, we're keeping it healthy. keep #3") == {"#3"}
    assert left("delete #1, not #2") == {"#2"}
    assert left("leave the #2 one alone and tick #1") == {"#2"}
    assert left("tick everything except #3") == {"#3"}
    assert left("keep #1 at the top") == set()  # a move
    assert left("#1 is not #2") == set()


def test_a_task_no_longer_needed_is_taken_off() -> None:
    fence = ["paint fence", "clean gutters"]
    assert "remove" in cues_of("he'll paint the fence for us, so there's no need to keep that on my list", fence)
    assert "remove" in cues_of("I don't need the gutters anymore", fence)
    assert "remove" not in cues_of("no need to rush the fence", fence)
    assert "remove" in cues_of("the fence one can go", fence)


def test_a_thing_put_on_the_list_is_an_add() -> None:
    assert "add" in cues_of("Can you put bananas on the list?", ["buy milk"])
    assert "add" in cues_of("throw some batteries on there too", ["buy milk"])
    assert "add" not in cues_of("put the milk in the fridge", ["walk dog"])


def test_a_tick_mark_forget_and_yeet_are_operations_on_a_task_named() -> None:
    assert "finish" in cues_of("meal prep ✅ lets gooo", ["hit the gym", "meal prep"])
    assert "remove" in cues_of("forget the card", ["write card", "wrap gift"])
    assert "remove" in cues_of("yeet the car wash", ["wash car"])
    assert "remove" not in cues_of("don't forget the card", ["write card", "wrap gift"])


def test_a_task_said_to_be_done_is_a_tick_and_an_irregular_past_is_its_verb() -> None:
    dental = ["book dentist", "buy floss"]
    assert "finish" in cues_of("add schedule cleaning, and the floss is done", dental)
    assert "finish" not in cues_of("the floss isn't done", dental)
    assert "finish" in cues_of("dentist is booked for thursday", dental)  # the task's own verb, done
    assert "finish" in cues_of("floss bought", dental)
    assert "finish" not in cues_of("the dentist is closed", dental)
    assert stem("bought") == stem("buy") and stem("paid") == stem("pay")
    assert "finish" in cues_of("bought the floss", dental)  # the task's own verb, in the past
