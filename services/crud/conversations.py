"""Conversation history, kept by crud so that LLM workers can stay stateless."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from proto.messages import ChatMessage
from services.crud.connection import transaction

INSERT = (
    "INSERT OR IGNORE INTO messages (message_id, thread_id, role, text, run_id, at, kind) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _row(message: ChatMessage) -> tuple[Any, ...]:
    return (message.message_id, message.thread_id, message.role, message.text, message.run_id, message.at, message.kind)


async def append(conn: aiosqlite.Connection, message: ChatMessage) -> bool:
    """Store one conversation message; the same message id twice is stored once."""
    # One trip to the database's thread: RETURNING gives a row only when the message was stored.
    rows = await conn.execute_fetchall(f"{INSERT} RETURNING seq", _row(message))
    return len(list(rows)) == 1


async def append_all(conn: aiosqlite.Connection, messages: Sequence[ChatMessage]) -> list[bool]:
    """Store messages in one transaction, in order; for each, whether it was stored (not when its id was stored
    before, or earlier in `messages`)."""
    if len(messages) == 1:
        return [await append(conn, messages[0])]  # one trip to the database's thread, not four
    ids = [message.message_id for message in messages]
    async with transaction(conn):
        marks = ", ".join("?" * len(ids))
        rows = await conn.execute_fetchall(f"SELECT message_id FROM messages WHERE message_id IN ({marks})", ids)
        seen = {row[0] for row in rows}
        stored = []
        for message_id in ids:
            stored.append(message_id not in seen)
            seen.add(message_id)
        await conn.executemany(INSERT, [_row(message) for message in messages])
    return stored


async def recent(conn: aiosqlite.Connection, thread_id: str, limit: int) -> list[ChatMessage]:
    """The last `limit` entries of a thread, oldest first."""
    rows = await conn.execute_fetchall(
        "SELECT message_id, thread_id, role, text, run_id, at, kind FROM messages WHERE thread_id = ?"
        " ORDER BY seq DESC LIMIT ?",
        (thread_id, limit),
    )
    return [
        ChatMessage(message_id=r[0], thread_id=r[1], role=r[2], text=r[3], run_id=r[4], at=r[5], kind=r[6])
        for r in reversed(list(rows))
    ]
