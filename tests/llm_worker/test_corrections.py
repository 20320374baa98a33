"""A part of a task's name corrected in code (services/llm_worker/backends/corrections.py)."""

from __future__ import annotations

import pytest

from services.llm_worker.backends.actions import words
from services.llm_worker.backends.corrections import corrected
from tests.support.tasks import listed


@pytest.mark.parametrize(
    ("text", "names", "renamed"),
    [
        ("oh wait we drink whole milk not 2%, fix that", ["buy 2% milk", "cereal"], ("buy 2% milk", "buy whole milk")),
        (
            "make the milk 3 liters instead of 2",
            ["buy 2 liters of milk"],
            ("buy 2 liters of milk", "buy 3 liters of milk"),
        ),
        ("actually I meant oat milk not almond milk", ["buy almond milk"], ("buy almond milk", "buy oat milk")),
        ("oops, I meant duct tape not tape", ["buy tape"], ("buy tape", "buy duct tape")),
        # Without a word of putting a name right, "A not B" corrects nothing; nor where B is in no name, or in two.
        ("buy milk not eggs", ["eggs", "bread"], None),
        ("actually I want tea not coffee", ["buy juice"], None),
        ("wait, it's the 2nd not the 3rd", ["pick 3rd seat", "3rd row"], None),
        # The new words are only words of a thing, not "the blue one".
        ("I need the blue one instead of the red one", ["paint the red one"], None),
    ],
)
def test_a_part_of_a_name_is_corrected(text: str, names: list[str], renamed: tuple[str, str] | None) -> None:
    found = corrected(words(text), listed(*names))
    assert (found[0].name, found[1]) == renamed if found is not None else renamed is None
