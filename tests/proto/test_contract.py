"""The command language and bus messages accept what they promise and refuse the rest with reasons."""

import json

import pytest

from proto import subjects
from proto.codec import DecodeError, decode, decode_run_event, decode_ui_event, encode
from proto.commands import (
    EXAMPLES,
    MAX_INT,
    OPS,
    TaskCreate,
    TaskDelete,
    TaskToggle,
    command_adapter,
    command_reference,
)
from proto.events import TextMessageContentEvent
from proto.messages import PERSON, Actor, CommandRequest, Notice, RunRequest, TaskEvent, TaskPublic
from proto.schema import contract


def test_names_are_trimmed_and_bounded() -> None:
    assert TaskCreate(name="  apples ").name == "apples"
    assert TaskCreate(name="x" * 200).name == "x" * 200
    for bad in ["", "   ", "x" * 201, "bell\x07", "line\nbreak", "zero\u200bwidth"]:
        with pytest.raises(ValueError):
            TaskCreate(name=bad)


def test_names_may_hold_joined_emoji_and_variation_selectors_but_no_hidden_formatting() -> None:
    for fine in ["family 👨\u200d👩\u200d👧", "heart ❤\ufe0f", "rainbow flag 🏳\ufe0f\u200d🌈", "क्\u200dष"]:
        assert TaskCreate(name=fine).name == fine
    # A joiner joining nothing, a right-to-left override, a BOM: invisible, so refused.
    for bad in ["\u200dlead", "trail\u200d", "two\u200d\u200djoiners", "evil\u202etxt.exe", "\ufeffbom"]:
        with pytest.raises(ValueError, match="control characters"):
            TaskCreate(name=bad)


def test_ids_and_versions_are_bounded_integers() -> None:
    assert TaskToggle(id=MAX_INT).id == MAX_INT
    for bad in [
        {"op": "toggle", "id": 2**70},
        {"op": "delete", "id": MAX_INT + 1},
        {"op": "reorder", "order": [1, 2**63]},
        {"op": "rename", "name": "a", "new_name": "b", "expected_version": 2**64},
    ]:
        with pytest.raises(ValueError, match="less than or equal"):
            command_adapter.validate_python(bad)


def test_targeted_commands_need_exactly_one_of_id_and_name() -> None:
    assert TaskToggle(name="milk").target() == "“milk”"
    assert TaskDelete(id=3).target() == "#3"
    with pytest.raises(ValueError, match="either by id or by name"):
        TaskToggle()
    with pytest.raises(ValueError, match="either by id or by name"):
        TaskDelete(id=1, name="milk")
    with pytest.raises(ValueError):
        TaskDelete(id=0)


def test_commands_are_told_apart_by_op_and_refuse_extra_or_unknown() -> None:
    assert isinstance(command_adapter.validate_json(b'{"op": "delete", "name": "bread"}'), TaskDelete)
    for bad in [b'{"op": "drop_table"}', b'{"op": "create", "name": "a", "sql": "x"}', b'{"op": "toggle", "id": "x"}']:
        with pytest.raises(ValueError):
            command_adapter.validate_json(bad)


def test_command_reference_is_generated_from_every_command() -> None:
    reference = command_reference()
    assert set(EXAMPLES) == set(OPS)
    for op in OPS:
        example = EXAMPLES[op]
        assert json.dumps(example) in reference
        assert command_adapter.validate_python(example).op == op


def test_codec_round_trips_and_explains_bad_input() -> None:
    request = CommandRequest(command_id="r1-0", actor=Actor(kind="model", model="m"), command=TaskCreate(name="a"))
    assert decode(CommandRequest, encode(request)) == request
    with pytest.raises(DecodeError, match="not a valid CommandRequest"):
        decode(CommandRequest, b"\xff\xfe garbage")
    with pytest.raises(DecodeError, match="command_id"):
        body = {"command_id": "has space", "actor": {"kind": "person"}, "command": {"op": "create", "name": "a"}}
        decode(CommandRequest, json.dumps(body).encode())
    with pytest.raises(DecodeError, match="text"):
        decode(RunRequest, json.dumps({"run_id": "r", "thread_id": "t", "text": "x" * 4001}).encode())


def test_run_events_use_ag_ui_wire_names() -> None:
    wire = encode(TextMessageContentEvent(message_id="m1", delta="hi"))
    assert json.loads(wire) == {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m1", "delta": "hi"}
    assert decode_run_event(wire) == TextMessageContentEvent(message_id="m1", delta="hi")
    with pytest.raises(DecodeError):
        decode_run_event(b'{"type": "NOT_AN_EVENT"}')


def test_ui_events_are_a_tagged_union() -> None:
    task = TaskPublic(id=1, name="a", done=False, position=0, version=1)
    event = TaskEvent(event_id="e1", kind="created", task=task, actor=PERSON, command_id="c1")
    assert decode_ui_event(encode(event)) == event
    assert isinstance(decode_ui_event(encode(Notice(event_id="n1", text="hello"))), Notice)


def test_subjects_and_schema_export() -> None:
    assert subjects.run_event("abc", 2, 7) == "chat.events.abc.2.7"
    assert subjects.run_event_place(subjects.run_event("abc", 2, 7)) == (2, 7)
    assert subjects.run_events("abc") == "chat.events.abc.>"
    for subject in ("chat.events.abc", "chat.events.abc.1", "chat.events.abc.x.1", "chat.events.abc.1.²", "ui.a.1.2"):
        assert subjects.run_event_place(subject) is None, subject
    assert subjects.crud_command("task", "create") == "crud.task.create"
    exported = contract()
    json.dumps(exported)
    assert set(exported["schemas"]) >= {"command", "run_request", "run_event", "command_result", "ui_event"}


def test_logged_nats_urls_never_show_a_password() -> None:
    from proto.bus import BusUnavailable, redacted

    assert redacted("nats://crud:s3cret@nats:4222") == "nats://crud:***@nats:4222"
    assert redacted("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert "s3cret" not in str(BusUnavailable("nats://crud:s3cret@nats:4222", 1.0, OSError("refused")))


def test_commands_that_change_many_tasks_ask_first_and_say_what_they_will_do() -> None:
    from proto.commands import (
        TaskClearCompleted,
        TaskCreate,
        TaskDelete,
        TaskReorder,
        Undo,
        approval_question,
        asks_first,
    )
    from proto.messages import TaskPublic

    names = ["milk", "eggs", "bread", *[f"item {n}" for n in range(10)]]
    tasks = [TaskPublic(id=n + 1, name=name, done=n % 2 == 0, position=n, version=1) for n, name in enumerate(names)]
    assert approval_question(TaskClearCompleted(), tasks) == (
        "Remove 7 completed tasks: “milk”, “bread”, “item 1”, “item 3”, “item 5”, “item 7”, “item 9”?"
    )
    assert approval_question(TaskClearCompleted(), [t for t in tasks if not t.done]) is None  # nothing to remove
    order = approval_question(TaskReorder(order=[3, 1, 2, 99]), tasks[:3])
    assert order == "Put the whole list in this order: “bread”, “milk”, “eggs”, “#99”?"
    assert approval_question(Undo(run_id="r1"), tasks) == "Undo everything that chat run did?"
    many = approval_question(TaskReorder(order=list(range(13, 0, -1))), tasks) or ""
    assert many.endswith("and 5 more?")
    for single in (TaskCreate(name="x"), TaskDelete(name="milk"), Undo(command_id="c1")):
        assert approval_question(single, tasks) is None and not asks_first(single)
    assert all(asks_first(c) for c in (TaskClearCompleted(), TaskReorder(order=[1]), Undo(run_id="r1")))
