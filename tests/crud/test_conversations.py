"""Conversation entries keep their kind (a message, where `!reset` started anew, the model `!model`
chose), and marks stored as text before entries had kinds become entries of their kind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import aiosqlite
import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import decode, encode
from proto.commands import TaskCreate, TaskDelete
from proto.messages import (
    Actor,
    Appended,
    AuditEntry,
    AuditList,
    AuditRequest,
    ChatMessage,
    CommandRequest,
    Conversation,
    ConversationRequest,
    MessageKind,
    NoticeRequest,
    TurnBegin,
    TurnBegun,
)
from services.crud import journal
from services.crud.connection import MIGRATIONS
from services.crud.db import Database

Role = Literal["user", "assistant"]


@pytest.mark.usefixtures("crud")
async def test_entries_come_back_with_their_kind(nc: Client) -> None:
    said: list[tuple[Role, MessageKind, str]] = [
        ("user", "message", "!reset"),
        ("assistant", "reset", ""),
        ("user", "message", "!model qwen3:4b"),
        ("assistant", "model", "qwen3:4b"),
        ("assistant", "message", "From now on this conversation uses qwen3:4b."),
    ]
    for n, (role, kind, text) in enumerate(said):
        entry = ChatMessage(message_id=f"m{n}", thread_id="t1", role=role, kind=kind, text=text)
        await nc.request(subjects.CONVERSATION_APPEND, encode(entry), timeout=5)
    query = encode(ConversationRequest(thread_id="t1"))
    recent = decode(Conversation, (await nc.request(subjects.CONVERSATION_RECENT, query, timeout=5)).data)
    assert [(m.role, m.kind, m.text) for m in recent.messages] == said


async def test_marks_stored_as_text_become_entries_of_their_kind(tmp_path: Path) -> None:
    path = tmp_path / "ghostbus.sqlite3"
    # The file as it was before entries had kinds, with a conversation written the way workers wrote it.
    conn = await aiosqlite.connect(path, isolation_level=None)
    for script in sorted(MIGRATIONS.glob("000[1-3]_*.sql")):
        number = int(script.name[:4])
        await conn.executescript(f"BEGIN;\n{script.read_text()}\nPRAGMA user_version = {number};\nCOMMIT;")
    old: list[tuple[Role, str]] = [
        ("user", "hello"),
        ("user", "!reset"),
        ("assistant", "— new conversation —"),
        ("user", "!model llama3.2"),
        ("assistant", "— model: llama3.2:latest —"),
        ("assistant", "From now on this conversation uses llama3.2:latest."),
        ("user", "— new conversation —"),  # typed by the person: it stays what they said
    ]
    await conn.executemany(
        "INSERT INTO messages (message_id, thread_id, role, text, at) VALUES (?, 't1', ?, ?, 0)",
        [(f"m{n}", role, text) for n, (role, text) in enumerate(old)],
    )
    await conn.close()
    db = await Database.open(path)
    try:
        entries = await db.recent_messages("t1", 10)
    finally:
        await db.close()
    assert [(m.kind, m.text) for m in entries] == [
        ("message", "hello"),
        ("message", "!reset"),
        ("reset", ""),
        ("message", "!model llama3.2"),
        ("model", "llama3.2:latest"),
        ("message", "From now on this conversation uses llama3.2:latest."),
        ("message", "— new conversation —"),
    ]


@pytest.mark.usefixtures("crud")
async def test_a_run_begins_in_one_request_reading_what_it_found_and_storing_its_message_once(nc: Client) -> None:
    await nc.request(subjects.crud_command(subjects.TASK_ENTITY, "create"), encode(create_milk()), timeout=5)
    earlier = ChatMessage(message_id="r0-u", thread_id="t1", role="user", text="hello", run_id="r0")
    await nc.request(subjects.CONVERSATION_APPEND, encode(earlier), timeout=5)
    message = ChatMessage(message_id="r1-u", thread_id="t1", role="user", text="add milk", run_id="r1")
    asked = encode(TurnBegin(message=message, changes=5))
    first = decode(TurnBegun, (await nc.request(subjects.CONVERSATION_BEGIN, asked, timeout=5)).data)
    assert first.stored
    assert [t.name for t in first.tasks] == ["milk"]
    assert [m.text for m in first.messages] == ["hello"]  # the conversation as the run found it
    assert [e.result.summary for e in first.changes] == ["Added “milk”."]
    # Delivered again, the run reads its own message too and stores it no second time.
    again = decode(TurnBegun, (await nc.request(subjects.CONVERSATION_BEGIN, asked, timeout=5)).data)
    assert not again.stored and [m.text for m in again.messages] == ["hello", "add milk"]
    query = encode(ConversationRequest(thread_id="t1"))
    recent = decode(Conversation, (await nc.request(subjects.CONVERSATION_RECENT, query, timeout=5)).data)
    assert [m.text for m in recent.messages] == ["hello", "add milk"]


@pytest.mark.usefixtures("crud")
async def test_a_begin_crud_cannot_read_is_refused_and_stores_nothing(nc: Client) -> None:
    reply = await nc.request(subjects.CONVERSATION_BEGIN, b'{"message": {"thread_id": "t1"}}', timeout=5)
    assert reply.headers and reply.headers.get("Nats-Service-Error-Code") == "400"
    query = encode(ConversationRequest(thread_id="t1"))
    recent = decode(Conversation, (await nc.request(subjects.CONVERSATION_RECENT, query, timeout=5)).data)
    assert recent.messages == []


def create_milk() -> CommandRequest:
    return CommandRequest(command_id="c1", actor=Actor(kind="person"), command=TaskCreate(name="milk"))


@pytest.mark.usefixtures("crud")
async def test_a_run_is_told_only_of_what_people_did_since_it_asks(nc: Client) -> None:
    model = Actor(kind="model", backend="embedded", model="gemma")
    commands = [
        CommandRequest(command_id="c1", actor=Actor(kind="person"), command=TaskCreate(name="milk")),
        CommandRequest(command_id="c2", actor=model, command=TaskCreate(name="eggs")),
        CommandRequest(command_id="c3", actor=Actor(kind="person"), command=TaskDelete(id=999)),  # refused
        CommandRequest(command_id="c4", actor=Actor(kind="person"), command=TaskCreate(name="bread")),
        CommandRequest(command_id="c5", actor=Actor(kind="person"), command=TaskCreate(name="jam")),
    ]
    for command in commands:
        await nc.request(subjects.crud_command(subjects.TASK_ENTITY, command.command.op), encode(command), timeout=5)
    message = ChatMessage(message_id="r1-u", thread_id="t1", role="user", text="hi", run_id="r1")
    begun = decode(
        TurnBegun, (await nc.request(subjects.CONVERSATION_BEGIN, encode(TurnBegin(message=message)), timeout=5)).data
    )
    assert [e.command_id for e in begun.changes] == ["c5", "c4", "c1"]  # neither the model's nor the refused one
    begun = decode(
        TurnBegun,
        (await nc.request(subjects.CONVERSATION_BEGIN, encode(TurnBegin(message=message, changes=2)), timeout=5)).data,
    )
    assert [e.command_id for e in begun.changes] == ["c5", "c4"]  # newest first, at most 2
    since = next(e.at for e in (await all_changes(nc)) if e.command_id == "c4")
    later = TurnBegin(message=message, changes=10, changes_since=since)
    begun = decode(TurnBegun, (await nc.request(subjects.CONVERSATION_BEGIN, encode(later), timeout=5)).data)
    assert [e.command_id for e in begun.changes] == ["c5"]


async def all_changes(nc: Client) -> list[AuditEntry]:
    return decode(AuditList, (await nc.request(subjects.AUDIT_LIST, encode(AuditRequest()), timeout=5)).data).entries


async def test_what_people_did_is_read_anew_after_each_command_and_matches_the_database(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "ghostbus.sqlite3")
    try:
        assert await db.changes_by_people(0.0, 3) == []
        for n, name in enumerate(["milk", "eggs", "bread", "jam"]):
            # A change by hand between two runs' starts: the next run is told of it.
            await db.execute(
                CommandRequest(command_id=f"c{n}", actor=Actor(kind="person"), command=TaskCreate(name=name))
            )
            told = await db.changes_by_people(0.0, 3)
            assert told[0].result.summary == f"Added “{name}”."
        await db.notify(NoticeRequest(notice_id="n1", text="hello", actor=Actor(kind="person")))
        entries = await journal.by_people(db.conn, 0.0, 10)
        times = [e.at for e in entries]
        # Whatever a run asks (a later `since`, a smaller limit), what it is told is what the database holds.
        for since in [0.0, times[-1], times[2], times[0]]:
            for limit in [1, 2, 3, 10]:
                assert await db.changes_by_people(since, limit) == await journal.by_people(db.conn, since, limit)
    finally:
        await db.close()


@pytest.mark.usefixtures("crud")
async def test_messages_sent_at_once_are_each_stored_once_in_order_and_each_requester_told(nc: Client) -> None:
    # A burst of runs starting and ending: their messages are stored together, yet each requester hears whether
    # its own was new, one sent twice is kept once, and the conversation reads back in the order sent.
    entries = [ChatMessage(message_id=f"b{n}", thread_id="t1", role="user", text=f"m{n}") for n in range(40)]
    replies = await asyncio.gather(
        *(nc.request(subjects.CONVERSATION_APPEND, encode(e), timeout=5) for e in [*entries, entries[3]])
    )
    assert [decode(Appended, r.data).stored for r in replies] == [True] * 40 + [False]
    message = ChatMessage(message_id="r1-u", thread_id="t1", role="user", text="next", run_id="r1")
    begun = decode(
        TurnBegun,
        (await nc.request(subjects.CONVERSATION_BEGIN, encode(TurnBegin(message=message, limit=50)), timeout=5)).data,
    )
    assert begun.stored and [m.text for m in begun.messages] == [e.text for e in entries]


async def test_a_group_of_messages_says_of_each_whether_it_was_new(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "ghostbus.sqlite3")
    try:
        said = [ChatMessage(message_id=f"g{n}", thread_id="t1", role="user", text=f"m{n}") for n in range(3)]
        assert await db.append_messages([said[1]]) == [True]  # one message alone: one INSERT … RETURNING
        assert await db.append_messages([said[0], said[1], said[2], said[0]]) == [True, False, True, False]
        assert [m.text for m in await db.recent_messages("t1", 10)] == ["m1", "m0", "m2"]
    finally:
        await db.close()
