"""Where a request's further clause begins: code's part of reading several actions in one request (the model
reads each clause; tests/llm_worker/test_embedded.py runs both together)."""

from __future__ import annotations

import pytest

from services.llm_worker.backends.actions import words
from services.llm_worker.backends.clauses import clauses


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
    ],
)
def test_a_further_clause_begins_at_an_operation_after_the_end_of_another(text: str, parts: list[str]) -> None:
    assert cut(text) == parts
