"""Conversation history, kept by crud so that LLM workers can stay stateless."""

from __future__ import annotations

import aiosqlite

from proto.messages import ChatMessage


async def append(conn: aiosqlite.Connection, message: ChatMessage) -> bool:
    """Store one conversation message; the same message id twice is stored once."""
    # One trip to the database's thread: RETURNING gives a row only when the message was stored.
    rows = await conn.execute_fetchall(
        "INSERT OR IGNORE INTO messages (message_id, thread_id, role, text, run_id, at, kind)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        (message.message_id, message.thread_id, message.role, message.text, message.run_id, message.at, message.kind),
    )
    return len(list(rows)) == 1


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
