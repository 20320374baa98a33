"""A value of one task's name changed in code (services/llm_worker/backends/values.py): a number, a code or a day."""

from __future__ import annotations

import pytest

from services.llm_worker.backends.actions import words
from services.llm_worker.backends.mentions import find_mentions, masked
from services.llm_worker.backends.values import revalued
from tests.support.tasks import listed


def renamed(text: str, names: list[str], cued: frozenset[str] = frozenset()) -> str | None:
    tasks = listed(*names)
    units = words(text)
    _, places = masked(units, find_mentions(units, tasks))
    found = revalued(units, places, tasks, set(cued))
    return found[1] if found is not None else None


@pytest.mark.parametrize(
    ("text", "names", "new"),
    [
        ("flour: make it 2 bags", ["buy 2 lemons", "buy 1 bag of flour"], "buy 2 bags of flour"),
        ("the running one, make it 5x", ["register for 10k", "run 3x a week"], "run 5x a week"),
        ("the budget task should be Q2", ["update Q1 budget", "book room"], "update Q2 budget"),
        ("dinner is for 8 people not 6", ["call mum", "book table for 6"], "book table for 8"),
        ("it's thursday not tuesday for the dentist", ["dentist tue", "call mum"], "dentist thursday"),
        ("the dentist is thursday now", ["dentist tuesday", "buy milk"], "dentist thursday"),
        ("the eggs should be two dozen", ["buy 1 dozen eggs"], "buy 2 dozen eggs"),
    ],
)
def test_the_one_value_said_replaces_the_like_of_it_in_the_task_named(text: str, names: list[str], new: str) -> None:
    assert renamed(text, names) == new


@pytest.mark.parametrize(
    ("text", "names", "cued"),
    [
        ("call mom at 5 is done", ["call mom at 4"], frozenset({"finish"})),  # another operation
        ("add 2 bags of rice", ["buy 1 bag of rice"], frozenset({"add"})),
        ("flour: 2 bags", ["buy 1 bag of flour"], frozenset()),  # no word of becoming
        ("make it 2", ["buy 1 bag of flour", "buy 3 apples"], frozenset()),  # no task named
        ("the running one, make it 5k", ["run 3x a week"], frozenset()),  # no value of that shape in the name
        ("the flour should be 1 bag", ["buy 1 bag of flour"], frozenset()),  # the value it has already
        ("the lunch one is for 12 not 10 and 8", ["lunch for 4 and 6"], frozenset()),  # the old value in no name
    ],
)
def test_no_value_is_changed_where_the_request_says_no_such_change(
    text: str, names: list[str], cued: frozenset[str]
) -> None:
    assert renamed(text, names, cued) is None
