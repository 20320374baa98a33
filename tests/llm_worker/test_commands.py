"""The inline command parser: commands come out of the stream whole, wherever the chunks split them,
and nothing that looks like command JSON ever reaches the chat."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto.commands import TaskCreate, TaskDelete, TaskToggle
from services.llm_worker.backends.base import CommandOut, InvalidCommand, TextDelta
from services.llm_worker.commands import CommandParser, Parsed


def run(chunks: list[str]) -> tuple[str, list[Parsed]]:
    parser = CommandParser()
    items: list[Parsed] = []
    for chunk in chunks:
        items += parser.feed(chunk)
    items += parser.finish()
    text = "".join(i.text for i in items if isinstance(i, TextDelta))
    return text, [i for i in items if not isinstance(i, TextDelta)]


def splits(s: str) -> list[list[str]]:
    """The string cut in two at every position, and cut into single characters."""
    return [[s[:i], s[i:]] for i in range(len(s) + 1)] + [list(s)]


ANSWER = 'Sure!\n{"op": "create", "name": "apples"}\nAdded apples. {"op":"toggle","name":"milk"} Done.'


@pytest.mark.parametrize("chunks", splits(ANSWER))
def test_commands_are_cut_out_wherever_the_stream_splits(chunks: list[str]) -> None:
    text, commands = run(chunks)
    assert commands == [CommandOut(TaskCreate(name="apples")), CommandOut(TaskToggle(name="milk"))]
    assert "{" not in text and "op" not in text
    assert text.replace(" ", "").replace("\n", "") == "Sure!Addedapples.Done."


def test_a_fenced_block_and_an_array_of_commands_are_taken_too() -> None:
    text, commands = run(
        [
            'Here:\n```json\n{"op": "delete", "id": 4}\n```\nand [{"op":"create","name":"a"},',
            ' {"op":"create","name":"b"}] ok',
        ]
    )
    assert commands == [
        CommandOut(TaskDelete(id=4)),
        CommandOut(TaskCreate(name="a")),
        CommandOut(TaskCreate(name="b")),
    ]
    assert "```" not in text and "{" not in text and "[" not in text
    assert "Here:" in text and "ok" in text


def test_braces_in_ordinary_text_are_shown_unchanged() -> None:
    prose = 'Use {curly} braces, [brackets] and a set {1, 2} freely; {"so" he said}.'
    text, commands = run(list(prose))
    assert commands == []
    assert text == prose


def test_a_broken_command_becomes_an_error_the_model_can_correct_not_chat_text() -> None:
    text, commands = run(['ok {"op": "create", "name": ""} and {"op": "fly", "name": "x"} {"op": "create", name: x}'])
    assert len(commands) == 3 and all(isinstance(c, InvalidCommand) for c in commands)
    errors = [c.error for c in commands if isinstance(c, InvalidCommand)]
    assert "name" in errors[0]
    assert "not valid JSON" in errors[2]
    assert "op" not in text


BROKEN_THEN_TWO = (
    'Adding:\n{"op": "create", "name": "broken\n'
    '{"op": "create", "name": "eggs"}\n{"op": "create", "name": "jam"}\nDone.'
)
UNCLOSED_THEN_TWO = (
    '{"op": "create", "name": "broken"\n{"op": "create", "name": "eggs"}\n{"op": "toggle", "id": 3}\nDone.'
)


@pytest.mark.parametrize("chunks", splits(BROKEN_THEN_TWO))
def test_a_broken_command_line_fails_alone_and_the_lines_after_it_run(chunks: list[str]) -> None:
    text, commands = run(chunks)
    broken, *valid = commands
    assert isinstance(broken, InvalidCommand) and "closing quote" in broken.error
    assert broken.raw == '{"op": "create", "name": "broken'
    assert valid == [CommandOut(TaskCreate(name="eggs")), CommandOut(TaskCreate(name="jam"))]
    assert "{" not in text and "op" not in text and text.split() == ["Adding:", "Done."]


@pytest.mark.parametrize("chunks", splits(UNCLOSED_THEN_TWO))
def test_a_command_missing_its_closing_brace_does_not_swallow_the_next(chunks: list[str]) -> None:
    text, commands = run(chunks)
    broken, *valid = commands
    assert isinstance(broken, InvalidCommand) and "closing brace" in broken.error
    assert valid == [CommandOut(TaskCreate(name="eggs")), CommandOut(TaskToggle(id=3))]
    assert text.split() == ["Done."]


def test_a_nested_object_or_a_line_break_between_keys_is_still_one_command() -> None:
    _, commands = run(['{"op": "create",\n  "name": "a {b}"}', ' {"op": "reorder", "order": [2, 1]}'])
    assert [type(c) for c in commands] == [CommandOut, CommandOut]
    _, nested = run(['{"op": "create", "name": "x", "extra": {"a": 1}}'])
    assert isinstance(nested[0], InvalidCommand) and "extra" in nested[0].error


def test_an_unfinished_command_at_the_end_of_the_stream_does_not_leak() -> None:
    text, commands = run(['Adding: {"op": "create", "name": "ap'])
    assert "{" not in text and "op" not in text
    assert len(commands) == 1 and isinstance(commands[0], InvalidCommand)


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(alphabet=st.characters(blacklist_characters='{}[]`"', blacklist_categories=("Cs",)), max_size=40),
    name=st.text(alphabet=st.characters(whitelist_categories=("L", "N", "Zs")), min_size=1, max_size=30).filter(
        lambda s: s.strip() != ""
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_any_name_survives_any_chunking(before: str, name: str, cuts: list[int]) -> None:
    import json

    block = json.dumps({"op": "create", "name": name})
    whole = f"{before}\n{block}\nDone."
    points = sorted({min(c, len(whole)) for c in cuts})
    chunks = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    text, commands = run(chunks)
    assert commands == [CommandOut(TaskCreate(name=name))]
    assert block not in text and '"op"' not in text
