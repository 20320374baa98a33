"""crud on a real nats-server and a real SQLite file: commands, their replies and their UI events."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import decode, decode_ui_event, encode
from proto.commands import OPS, AnyCommand, TaskCreate, TaskDelete, TaskToggle
from proto.messages import (
    PERSON,
    Actor,
    CommandRequest,
    CommandResult,
    ListRequest,
    NoticeRequest,
    TaskEvent,
    TaskList,
)
from services.crud.db import Database
from services.crud.service import Crud

pytestmark = pytest.mark.usefixtures("crud")


Command = AnyCommand


async def send(nc: Client, command: Command, command_id: str | None = None, timeout: float = 5) -> CommandResult:
    request = CommandRequest(command_id=command_id or uuid.uuid4().hex, actor=PERSON, command=command)
    reply = await nc.request(subjects.crud_command("task", command.op), encode(request), timeout=timeout)
    assert not (reply.headers or {}).get("Nats-Service-Error")
    return decode(CommandResult, reply.data)


async def names(nc: Client) -> list[str]:
    reply = await nc.request(subjects.TASK_LIST, encode(ListRequest()), timeout=5)
    return [t.name for t in decode(TaskList, reply.data).tasks]


async def ui_events(nc: Client, count: int) -> list[TaskEvent]:
    """The first `count` events of the UI stream, waiting (with a deadline) until they are there."""
    js = nc.jetstream()
    sub = await js.subscribe(subjects.UI_ALL, ordered_consumer=True)
    out = []
    try:
        for _ in range(count):
            msg = await sub.next_msg(timeout=5)
            event = decode_ui_event(msg.data)
            assert msg.headers and msg.headers.get("Nats-Msg-Id") == event.event_id
            out.append(event)
    finally:
        await sub.unsubscribe()
    return out


async def test_create_toggle_delete_reply_in_words_and_emit_one_event_each(nc: Client) -> None:
    added = await send(nc, TaskCreate(name="apples"))
    assert added.ok and added.summary == "Added “apples”." and added.task and added.task.position == 0
    await send(nc, TaskCreate(name="milk"))
    done = await send(nc, TaskToggle(name="APPLES"))
    assert done.summary == "Marked “apples” done." and done.task and done.task.done and done.task.version == 2
    undone = await send(nc, TaskToggle(id=added.task.id))
    assert undone.summary == "Marked “apples” not done."
    gone = await send(nc, TaskDelete(name="apples"))
    assert gone.summary == "Deleted “apples”."
    assert await names(nc) == ["milk"]
    events = await ui_events(nc, 6)
    assert [(e.kind, e.task.name) for e in events] == [
        ("created", "apples"),
        ("created", "milk"),
        ("updated", "apples"),
        ("updated", "apples"),
        ("deleted", "apples"),
        ("updated", "milk"),  # moved up to position 0
    ]
    assert events[-1].task.position == 0


async def test_the_same_command_id_twice_changes_the_list_once(nc: Client, crud: Crud) -> None:
    first = await send(nc, TaskCreate(name="apples"), command_id="cmd-1")
    again = await send(nc, TaskCreate(name="apples"), command_id="cmd-1")
    assert again == first
    assert await names(nc) == ["apples"]
    assert await crud.relay.flush()
    info = await nc.jetstream().stream_info(subjects.UI_STREAM)
    assert info.state.messages == 1


async def test_the_same_command_id_with_another_command_is_a_conflict_not_the_first_result(
    nc: Client, crud: Crud
) -> None:
    model = Actor(kind="model", backend="ollama", model="llama3.2")
    first = CommandRequest(command_id="run1-1", actor=model, run_id="run1", command=TaskCreate(name="A"))
    added = decode(CommandResult, (await nc.request(subjects.crud_command("task", "create"), encode(first))).data)
    assert added.ok and added.summary == "Added “A”."
    # The run, redelivered, now asks for B under the same id: refused as a conflict, B is not "Added “A”".
    other = first.model_copy(update={"command": TaskCreate(name="B")})
    reply = await nc.request(subjects.crud_command("task", "create"), encode(other), timeout=5)
    assert reply.headers and reply.headers["Nats-Service-Error-Code"] == "409"
    refused = decode(CommandResult, reply.data)
    assert not refused.ok and refused.error and refused.error.code == "conflict"
    assert "run1-1" in refused.error.message and "not carried out" in refused.error.message
    assert "A" not in refused.summary
    # Another worker's model, same command: the same request, so the stored result.
    again = first.model_copy(update={"actor": Actor(kind="model", backend="openai", model="gpt")})
    reply = await nc.request(subjects.crud_command("task", "create"), encode(again), timeout=5)
    assert decode(CommandResult, reply.data) == added
    # A person's command under a model's id, or a task command under a notice's id: conflicts too.
    assert (await send_raw(nc, first.model_copy(update={"actor": PERSON, "run_id": None}))) == "409"
    await nc.request(subjects.NOTIFY, encode(NoticeRequest(notice_id="n1", text="hello", actor=PERSON)), timeout=5)
    assert await send_raw(nc, CommandRequest(command_id="n1", actor=PERSON, command=TaskCreate(name="C"))) == "409"
    assert await names(nc) == ["A"]


async def test_a_command_stored_before_fingerprints_is_still_recognised(nc: Client, crud: Crud) -> None:
    request = CommandRequest(command_id="old-1", actor=PERSON, command=TaskCreate(name="A"))
    first = await send(nc, request.command, command_id="old-1")
    await crud.db.conn.execute("UPDATE commands SET fingerprint = NULL")
    assert await send(nc, request.command, command_id="old-1") == first
    assert await send_raw(nc, request.model_copy(update={"command": TaskCreate(name="B")})) == "409"
    assert await names(nc) == ["A"]


async def send_raw(nc: Client, request: CommandRequest) -> str:
    """The error code crud answers a request with ("" when it carried it out)."""
    reply = await nc.request(subjects.crud_command("task", request.command.op), encode(request), timeout=5)
    return (reply.headers or {}).get("Nats-Service-Error-Code", "")


async def test_a_wrong_name_says_what_exists(nc: Client) -> None:
    await send(nc, TaskCreate(name="apples"))
    await send(nc, TaskCreate(name="milk"))
    missing = await send(nc, TaskToggle(name="bread"))
    assert not missing.ok and missing.error and missing.error.code == "not_found"
    assert "“bread”" in missing.error.message and "“apples”" in missing.error.message
    await send(nc, TaskCreate(name="Milk"))
    ambiguous = await send(nc, TaskDelete(name="milk"))
    assert ambiguous.error and ambiguous.error.code == "ambiguous" and "#2" in ambiguous.error.message
    unknown = await send(nc, TaskDelete(id=999))
    assert unknown.error and unknown.error.code == "not_found" and "#999" in unknown.error.message
    assert await names(nc) == ["apples", "milk", "Milk"]


def raw(command_id: str, command: dict[str, object]) -> bytes:
    return json.dumps({"command_id": command_id, "actor": {"kind": "person"}, "command": command}).encode()


@pytest.mark.parametrize(
    ("op", "body", "problem"),
    [
        ("create", b"\xff\xfe garbage", "JSON"),
        ("create", raw("c1", {"op": "create", "name": 5}), "name"),
        ("create", raw("c2", {"op": "create", "name": "x" * 201}), "200"),
        ("create", raw("c3", {"op": "create", "name": "a\u0007b"}), "control"),
        ("toggle", raw("c4", {"op": "create", "name": "x"}), "toggle endpoint"),
        ("delete", raw("c5 bad id", {"op": "delete", "id": 1}), "command_id"),
        # Beyond SQLite's 64 bits: refused where it arrives, not an overflow inside the transaction.
        ("toggle", raw("c6", {"op": "toggle", "id": 2**70}), "id"),
        ("reorder", raw("c7", {"op": "reorder", "order": [1, 2**63]}), "order"),
        ("rename", raw("c8", {"op": "rename", "id": 1, "new_name": "x", "expected_version": 2**64}), "version"),
    ],
)
async def test_bad_requests_get_a_clear_error_and_change_nothing(
    nc: Client, op: str, body: bytes, problem: str
) -> None:
    reply = await nc.request(subjects.crud_command("task", op), body, timeout=5)
    assert reply.headers and reply.headers["Nats-Service-Error-Code"] == "400"
    assert problem in reply.headers["Nats-Service-Error"]
    result = decode(CommandResult, reply.data)
    assert not result.ok and result.error and result.error.code == "invalid" and problem in result.error.message
    assert await names(nc) == []


async def test_the_service_reports_its_endpoints_and_stats(nc: Client) -> None:
    await send(nc, TaskCreate(name="apples"))
    await nc.request(subjects.crud_command("task", "create"), b"junk", timeout=5)
    reply = await nc.request("$SRV.STATS.crud", b"", timeout=5)
    stats = {e["name"]: e for e in json.loads(reply.data)["endpoints"]}
    assert set(stats) == set(OPS) | {
        "list",
        "audit",
        "notify",
        "confirmation_ask",
        "confirmation_settle",
        "confirmation_pending",
        "conversation_append",
        "conversation_recent",
        "conversation_begin",
    }
    # nats-py's micro counts a request as an error only when the handler raises; crud answers bad input
    # with an error reply instead, so it shows in the requests, not in num_errors.
    assert stats["create"]["num_requests"] == 2 and stats["list"]["num_requests"] == 0


async def test_a_burst_of_commands_keeps_positions_and_events_consistent(nc: Client, crud: Crud) -> None:
    # 200 requests in flight at once are answered one after another: the last waits for all the others, so
    # each gets the burst's time, not one command's (a slow disk in CI took more than 5 s for the lot).
    results = await asyncio.gather(*(send(nc, TaskCreate(name=f"task {n}"), timeout=60) for n in range(200)))
    assert all(r.ok for r in results)
    deletes = await asyncio.gather(*(send(nc, TaskDelete(name=f"task {n}"), timeout=60) for n in range(0, 200, 3)))
    assert all(d.ok for d in deletes)
    tasks = await crud.db.list_tasks()
    assert [t.position for t in tasks] == list(range(len(tasks))) == list(range(200 - len(deletes)))
    assert await crud.relay.flush()
    async with crud.db.conn.execute("SELECT COUNT(*), COUNT(sent_at) FROM outbox") as cursor:
        total, sent = await cursor.fetchone()  # type: ignore[misc]
    info = await nc.jetstream().stream_info(subjects.UI_STREAM)
    assert total == sent == info.state.messages


async def test_the_list_kept_between_reads_is_read_anew_after_each_command(tmp_path: Path) -> None:
    """crud keeps the list it last read until a command may change it: with reads racing each command,
    the list read afterwards is always the list as committed."""
    db = await Database.open(tmp_path / "race.sqlite3")
    await db.migrate()
    try:
        for n in range(20):
            command = CommandRequest(command_id=f"c{n}", actor=PERSON, command=TaskCreate(name=f"t{n}"))
            await asyncio.gather(db.list_tasks(), db.execute(command), db.list_tasks())
            assert [t.name for t in await db.list_tasks()] == [f"t{k}" for k in range(n + 1)]
    finally:
        await db.close()
