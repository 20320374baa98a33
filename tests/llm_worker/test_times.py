"""A task's day or time changed in code (services/llm_worker/backends/times.py)."""

from __future__ import annotations

import pytest

from services.llm_worker.backends.actions import words
from services.llm_worker.backends.spans import chatter
from services.llm_worker.backends.times import new_time, retimed
from tests.support.tasks import listed


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("dinner with Sam got moved to Saturday", ("Saturday", "day")),
        ("the meeting got pushed back to 4 pm", ("4 pm", "clock")),
        ("dentist rescheduled for 10:30am", ("10:30am", "clock")),
        ("the meeting is now at 4", ("4", "clock")),
        ("milk is now done", None),
        ("move #1 to the top", None),  # a move on the list, not in time
        ("I moved the couch to the garage", None),
        ("we moved it to 3", None),  # "it" stands between: no day or time is said of a task
    ],
)
def test_the_day_or_time_a_request_moves_something_to(text: str, found: tuple[str, str] | None) -> None:
    assert new_time(words(text)) == found


@pytest.mark.parametrize(
    ("name", "said", "kind", "renamed"),
    [
        ("dinner with Sam on Friday", "Saturday", "day", "dinner with Sam on Saturday"),
        ("meeting with Dana at 2 pm", "4", "clock", "meeting with Dana at 4"),
        ("dentist at 10am tuesday", "2pm", "clock", "dentist at 2pm tuesday"),
        ("buy milk", "4", "clock", None),  # no time in the name
        ("call at 2 or 3", "4", "clock", None),  # which one is not known
    ],
)
def test_a_name_s_day_or_time_is_replaced(name: str, said: str, kind: str, renamed: str | None) -> None:
    assert retimed(listed(name)[0], said, kind) == renamed


def test_only_talk_is_no_item() -> None:
    assert chatter("lol nvm") and chatter("ok cool thanks")
    assert not chatter("cool whip") and not chatter("")
