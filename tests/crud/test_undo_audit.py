"""Undo (of a command, of a whole run, of an undo), refused when the target changed since; the audit
trail; conversation history."""

from __future__ import annotations

import uuid
from typing import Literal

import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import decode, encode
from proto.commands import AnyCommand, TaskClearCompleted, TaskCreate, TaskDelete, TaskRename, TaskToggle, Undo
from proto.messages import (
    Actor,
    Appended,
    AuditList,
    AuditRequest,
    ChatMessage,
    CommandRequest,
    CommandResult,
    Conversation,
    ConversationRequest,
)
from services.crud.service import Crud
from tests.crud.test_commands import names, send

pytestmark = pytest.mark.usefixtures("crud")

MODEL = Actor(kind="model", backend="embedded", model="gemma3-270m")


async def as_model(nc: Client, run_id: str, n: int, command: AnyCommand) -> CommandResult:
    request = CommandRequest(command_id=f"{run_id}-{n}", actor=MODEL, run_id=run_id, command=command)
    reply = await nc.request(subjects.crud_command("task", command.op), encode(request), timeout=5)
    return decode(CommandResult, reply.data)


async def test_undo_a_command_and_undo_the_undo(nc: Client, crud: Crud) -> None:
    await send(nc, TaskCreate(name="apples"))
    await send(nc, TaskCreate(name="bread"))
    deleted = await send(nc, TaskDelete(name="apples"), command_id="del-1")
    undo = await send(nc, Undo(command_id="del-1"), command_id="undo-1")
    assert undo.summary == "Undid: Deleted “apples”."
    tasks = await crud.db.list_tasks()
    assert [(t.name, t.position) for t in tasks] == [("apples", 0), ("bread", 1)]
    assert deleted.task and tasks[0].id == deleted.task.id and tasks[0].version > deleted.task.version
    assert await send(nc, Undo(command_id="del-1"), command_id="undo-1") == undo  # the same undo, once
    twice = await send(nc, Undo(command_id="del-1"))
    assert twice.error and twice.error.code == "conflict" and "already undone" in twice.error.message
    redo = await send(nc, Undo(command_id="undo-1"))
    assert redo.ok and await names(nc) == ["bread"]


async def test_a_redo_makes_the_command_undoable_again(nc: Client, crud: Crud) -> None:
    await send(nc, TaskCreate(name="bread"))
    await send(nc, TaskCreate(name="apples"), command_id="add-1")
    await send(nc, Undo(command_id="add-1"), command_id="undo-1")
    assert await names(nc) == ["bread"]
    redo = await send(nc, Undo(command_id="undo-1"), command_id="redo-1")
    assert redo.ok and await names(nc) == ["bread", "apples"]
    again = await send(nc, Undo(command_id="add-1"))
    assert again.ok and again.summary == "Undid: Added “apples”." and await names(nc) == ["bread"]
    # And round again: the redo of that undo brings it back, undoable once more.
    assert (await send(nc, Undo(command_id=again.command_id))).ok and await names(nc) == ["bread", "apples"]
    assert (await send(nc, Undo(command_id="add-1"))).ok and await names(nc) == ["bread"]


async def test_a_redone_run_can_be_undone_again_whole_or_from_its_newest_command(nc: Client) -> None:
    run = uuid.uuid4().hex
    await as_model(nc, run, 1, TaskCreate(name="apples"))
    await as_model(nc, run, 2, TaskRename(name="apples", new_name="green apples"))
    await as_model(nc, run, 3, TaskCreate(name="pears"))
    undone = await send(nc, Undo(run_id=run), command_id="undo-run")
    assert undone.ok and await names(nc) == []
    assert (await send(nc, Undo(command_id="undo-run"))).ok and await names(nc) == ["green apples", "pears"]
    # The rename is the newest change to apples: the create under it cannot go back alone, the run can.
    assert (await send(nc, Undo(command_id=f"{run}-1"))).error is not None
    again = await send(nc, Undo(run_id=run))
    assert again.ok and again.summary.startswith("Undid 3 changes:") and await names(nc) == []
    assert (await send(nc, Undo(command_id=again.command_id))).ok and await names(nc) == ["green apples", "pears"]
    assert (await send(nc, Undo(command_id=f"{run}-2"))).ok and await names(nc) == ["apples", "pears"]


async def test_undo_a_whole_run_newest_first(nc: Client) -> None:
    await send(nc, TaskCreate(name="bread"))
    run = uuid.uuid4().hex
    await as_model(nc, run, 1, TaskCreate(name="apples"))
    await as_model(nc, run, 2, TaskToggle(name="apples"))
    await as_model(nc, run, 3, TaskRename(name="bread", new_name="rye"))
    await as_model(nc, run, 4, TaskClearCompleted())
    assert await names(nc) == ["rye"]
    undone = await send(nc, Undo(run_id=run))
    assert undone.ok and undone.summary.startswith("Undid 4 changes:")
    assert await names(nc) == ["bread"]
    again = await send(nc, Undo(run_id=run))
    assert again.error and again.error.code == "not_found"


async def test_an_undo_whose_target_changed_since_is_refused_not_applied(nc: Client) -> None:
    await send(nc, TaskCreate(name="milk"), command_id="make-milk")
    await send(nc, TaskRename(name="milk", new_name="oat milk"))
    refused = await send(nc, Undo(command_id="make-milk"))
    assert refused.error and refused.error.code == "conflict" and "oat milk" in refused.error.message
    assert await names(nc) == ["oat milk"]
    failed = await send(nc, TaskDelete(name="nothing"), command_id="failed")
    assert not failed.ok
    nothing = await send(nc, Undo(command_id="failed"))
    assert nothing.error and nothing.error.code == "not_found"


async def test_the_audit_trail_lists_every_command_newest_first_and_by_run(nc: Client, crud: Crud) -> None:
    await send(nc, TaskCreate(name="bread"), command_id="p-1")
    run = uuid.uuid4().hex
    await as_model(nc, run, 1, TaskCreate(name="apples"))
    await as_model(nc, run, 2, TaskDelete(name="pears"))
    everything = decode(AuditList, (await nc.request(subjects.AUDIT_LIST, encode(AuditRequest()), timeout=5)).data)
    assert [e.command_id for e in everything.entries] == [f"{run}-2", f"{run}-1", "p-1"]
    first = everything.entries[-1]
    assert first.actor.kind == "person" and first.command == {"op": "create", "name": "bread"}
    assert first.result.summary == "Added “bread”." and len(first.event_ids) == 1
    by_run = decode(
        AuditList, (await nc.request(subjects.AUDIT_LIST, encode(AuditRequest(run_id=run)), timeout=5)).data
    )
    assert [(e.actor.model, e.result.ok, len(e.event_ids)) for e in by_run.entries] == [
        ("gemma3-270m", False, 0),
        ("gemma3-270m", True, 1),
    ]


async def test_conversations_keep_the_last_messages_once_each(nc: Client) -> None:
    for n in range(5):
        role: Literal["user", "assistant"] = "user" if n % 2 == 0 else "assistant"
        message = ChatMessage(message_id=f"m{n}", thread_id="t1", role=role, text=f"hi {n}")
        reply = decode(Appended, (await nc.request(subjects.CONVERSATION_APPEND, encode(message), timeout=5)).data)
        assert reply.stored
    again = ChatMessage(message_id="m4", thread_id="t1", role="user", text="hi 4")
    assert not decode(Appended, (await nc.request(subjects.CONVERSATION_APPEND, encode(again), timeout=5)).data).stored
    query = encode(ConversationRequest(thread_id="t1", limit=3))
    recent = decode(Conversation, (await nc.request(subjects.CONVERSATION_RECENT, query, timeout=5)).data)
    assert [m.text for m in recent.messages] == ["hi 2", "hi 3", "hi 4"]
    bad = await nc.request(subjects.CONVERSATION_APPEND, b'{"thread_id": "t1"}', timeout=5)
    assert bad.headers and bad.headers["Nats-Service-Error-Code"] == "400"
