"""Conversation entries keep their kind (a message, where `!reset` started anew, the model `!model`
chose), and marks stored as text before entries had kinds become entries of their kind."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import aiosqlite
import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import decode, encode
from proto.messages import ChatMessage, Conversation, ConversationRequest, MessageKind
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
