"""A spelling fixed in code from the model's vocabulary (services/llm_worker/backends/spelling.py);
tests/llm_worker/test_embedded.py asks for one with the real model."""

from __future__ import annotations

from services.llm_worker.backends.actions import words
from services.llm_worker.backends.spelling import asks, operations_respelt, respelt

WORDS = {w: n for n, w in enumerate("the chicken bananas banana rice kitchen thicken receive recipe".split())}


def test_a_word_that_is_no_word_becomes_the_nearest_that_is() -> None:
    assert respelt("chiken", WORDS) == "chicken"  # a letter dropped; "thicken" begins otherwise
    assert respelt("bannanas", WORDS) == "bananas"
    assert respelt("Chiken and rice", WORDS) == "Chicken and rice"  # case kept; short words left alone
    assert respelt("recieve", WORDS) == "receive"  # two letters swapped


def test_a_word_of_the_vocabulary_or_too_far_from_any_stays() -> None:
    assert respelt("rice", WORDS) == "rice"
    assert respelt("xylophone 2kg", WORDS) == "xylophone 2kg"


def test_a_request_that_speaks_of_spelling() -> None:
    assert asks(words("fix the spelling of #1 pls"))
    assert asks(words("there's a typo in #1"))
    assert not asks(words("rename #1 to oat milk"))


def test_a_slip_in_a_word_of_an_operation_reads_as_that_word_unless_it_is_a_word() -> None:
    known = {**WORDS, "ease": 1, "heck": 2, "edits": 3}

    def read(text: str) -> str:
        return " ".join(w.text for w in operations_respelt(words(text), known))

    assert read("mvoe taxes to the top") == "move taxes to the top"
    assert read("delte the bananas") == "delete the bananas"
    assert read("ad buy AA bateries") == "add buy AA bateries"  # "ad" only where it begins the request
    assert read("review the ad") == "review the ad"
    assert read("add ease back pain stretches") == "add ease back pain stretches"  # a word of its own
    assert read("heck, review edits") == "heck , review edits"
