"""The audit trail and the outbox as tables: recording what is not a task command (a notice, a
confirmation), queueing UI events, reading the trail back, and what the relay has yet to publish."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from proto import subjects
from proto.codec import encode
from proto.messages import Actor, AuditEntry, CommandResult, Notice, NoticeRequest
from services.crud import summaries
from services.crud.connection import transaction


@dataclass(frozen=True)
class Pending:
    """An outbox row waiting to be published."""

    seq: int
    event_id: str
    subject: str
    payload: bytes


async def record(
    conn: aiosqlite.Connection,
    command_id: str,
    actor: Actor,
    run_id: str | None,
    command: dict[str, Any],
    result: CommandResult,
    now: float,
) -> bool:
    """An audit row for something that is not a task command; once per id (False: it was there)."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO commands (command_id, actor, run_id, op, command, result, ok, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
        (
            command_id,
            actor.model_dump_json(exclude_none=True),
            run_id,
            command["op"],
            json.dumps(command),
            result.model_dump_json(exclude_none=True),
            now,
        ),
    )
    new = cursor.rowcount == 1
    await cursor.close()
    return new


async def emit(
    conn: aiosqlite.Connection, command_id: str, events: Sequence[tuple[str, str, bytes]], now: float
) -> None:
    """Queue UI events (event id, subject, payload) for the relay, in the transaction of the change they show."""
    if events:
        # One statement for all of them: a delete near the top of a long list has an event for every
        # task after it, and each statement is a round trip to SQLite's thread.
        await conn.executemany(
            "INSERT INTO outbox (event_id, command_id, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            [(event_id, command_id, subject, payload, now) for event_id, subject, payload in events],
        )


async def notify(conn: aiosqlite.Connection, request: NoticeRequest) -> bool:
    """Queue a notice for every browser, once per notice id, recorded in the audit trail."""
    now = time.time()
    notice = Notice(event_id=request.notice_id, level=request.level, text=request.text, at=now)
    result = CommandResult(command_id=request.notice_id, ok=True, op="notify", summary=summaries.notice_sent())
    command = {"op": "notify", "level": request.level, "text": request.text}
    async with transaction(conn):
        new = await record(conn, request.notice_id, request.actor, None, command, result, now)
        if new:
            await emit(conn, request.notice_id, [(request.notice_id, subjects.UI_NOTIFY, encode(notice))], now)
    return new


async def pending(conn: aiosqlite.Connection, limit: int = 100) -> list[Pending]:
    """Outbox rows not yet acknowledged by JetStream, oldest first."""
    async with conn.execute(
        "SELECT seq, event_id, subject, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,)
    ) as cursor:
        return [Pending(row[0], row[1], row[2], bytes(row[3])) for row in await cursor.fetchall()]


async def mark_sent(conn: aiosqlite.Connection, seqs: list[int]) -> None:
    """Mark outbox rows published (JetStream acknowledged them)."""
    if seqs:
        marks = ",".join("?" * len(seqs))
        await conn.execute(f"UPDATE outbox SET sent_at = ? WHERE seq IN ({marks})", (time.time(), *seqs))


async def audit(conn: aiosqlite.Connection, run_id: str | None, limit: int) -> list[AuditEntry]:
    """Every command as recorded, newest first, with the ids of the events it produced."""
    where, params = ("WHERE c.run_id = ?", [run_id]) if run_id else ("", [])
    return await _entries(conn, where, params, limit)


async def by_people(conn: aiosqlite.Connection, since: float, limit: int) -> list[AuditEntry]:
    """What people did (carried out, not refused) after `since`, newest first: what a model run is told
    of the changes made by hand, without reading every model's and agent's command on the way."""
    where = "WHERE c.ok = 1 AND c.created_at > ? AND json_extract(c.actor, '$.kind') = 'person'"
    return await _entries(conn, where, [since], limit)


async def _entries(conn: aiosqlite.Connection, where: str, params: list[Any], limit: int) -> list[AuditEntry]:
    query = (
        "SELECT c.command_id, c.actor, c.run_id, c.op, c.command, c.result, c.undone_by, c.created_at,"
        " (SELECT group_concat(o.event_id) FROM outbox o WHERE o.command_id = c.command_id)"
        f" FROM commands c {where} ORDER BY c.rowid DESC LIMIT ?"
    )
    rows = await conn.execute_fetchall(query, [*params, limit])  # one trip to the database's thread
    return [
        AuditEntry(
            command_id=r[0],
            actor=Actor.model_validate_json(r[1]),
            run_id=r[2],
            op=r[3],
            command=json.loads(r[4]),
            result=CommandResult.model_validate_json(r[5]),
            undone_by=r[6],
            at=r[7],
            event_ids=r[8].split(",") if r[8] else [],
        )
        for r in rows
    ]
