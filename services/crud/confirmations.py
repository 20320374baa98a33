"""Commands of a model waiting for the person's approval: asked once per call, answered once, each
step stored with its audit row and its UI event in one transaction."""

from __future__ import annotations

import time

import aiosqlite

from proto import subjects
from proto.codec import encode
from proto.messages import Actor, CommandResult, Confirmation, ConfirmationEvent, ConfirmationState
from services.crud import journal, summaries
from services.crud.connection import transaction


async def get(conn: aiosqlite.Connection, call_id: str) -> Confirmation | None:
    async with conn.execute("SELECT body FROM confirmations WHERE call_id = ?", (call_id,)) as cursor:
        row = await cursor.fetchone()
    return Confirmation.model_validate_json(row[0]) if row else None


async def ask(conn: aiosqlite.Connection, asked: Confirmation) -> tuple[Confirmation, bool]:
    """Record a command waiting for approval, once per call: (the confirmation as stored, whether it
    is new). Asked again, as a redelivered run does, it is the stored one, answered or not."""
    stored = await get(conn, asked.call_id)
    if stored is not None:
        return stored, False
    pending = asked.model_copy(update={"state": "pending", "at": time.time()})
    await _changed(conn, pending, pending.asked_by)
    return pending, True


async def settle(
    conn: aiosqlite.Connection, call_id: str, state: ConfirmationState, actor: Actor, run_id: str | None = None
) -> tuple[Confirmation | None, bool]:
    """Answer a pending confirmation (approved, rejected, expired, stopped): (the confirmation as
    stored, whether this changed it; None when there is no such question, of `run_id` if given). An
    answer stands: a later one changes nothing. One recorded while no worker waits (its run is waiting
    to be redelivered) is what the next worker finds when it asks again."""
    stored = await get(conn, call_id)
    if stored is not None and run_id is not None and stored.run_id != run_id:
        return None, False
    if stored is None or stored.state != "pending" or state == "pending":
        return stored, False
    settled = stored.model_copy(update={"state": state, "at": time.time()})
    await _changed(conn, settled, actor)
    return settled, True


async def pending(conn: aiosqlite.Connection, max_age_s: float) -> list[Confirmation]:
    """Confirmations still waiting, oldest first, asked within the last `max_age_s` seconds."""
    async with conn.execute(
        "SELECT body FROM confirmations WHERE state = 'pending' AND updated_at >= ? ORDER BY updated_at",
        (time.time() - max_age_s,),
    ) as cursor:
        return [Confirmation.model_validate_json(row[0]) for row in await cursor.fetchall()]


async def _changed(conn: aiosqlite.Connection, confirmation: Confirmation, actor: Actor) -> None:
    """The confirmation's new state, its audit row and its UI event, in one transaction."""
    now = confirmation.at
    event_id = f"{confirmation.call_id}-{confirmation.state}"
    body = confirmation.model_dump_json(exclude_none=True)
    command = {"op": "confirm", "call_id": confirmation.call_id, "state": confirmation.state}
    summary = summaries.confirmation(confirmation.state, confirmation.question)
    result = CommandResult(command_id=event_id, ok=True, op="confirm", summary=summary)
    event = ConfirmationEvent(event_id=event_id, confirmation=confirmation, at=now)
    async with transaction(conn):
        await conn.execute(
            "INSERT INTO confirmations (call_id, run_id, state, body, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (call_id) DO UPDATE SET state = excluded.state, body = excluded.body,"
            " updated_at = excluded.updated_at",
            (confirmation.call_id, confirmation.run_id, confirmation.state, body, now),
        )
        if await journal.record(conn, event_id, actor, confirmation.run_id, command, result, now):
            await journal.emit(conn, event_id, [(event_id, subjects.UI_CONFIRMATION, encode(event))], now)
