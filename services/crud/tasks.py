"""Task commands on the database: each in one transaction with its stored result (so a retried command id
returns it again and changes nothing), its inverse (for undo) and its UI events (the outbox).

A command is computed as a new list from the current one (services.crud.listlogic); the difference is
what gets written, versioned and evented, so every change has exactly one event and positions always
read 0..n-1. The common one-row commands take a shorter path with the same results."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import aiosqlite

from proto import subjects
from proto.codec import encode
from proto.commands import MAX_TASKS, TaskCreate, TaskRename, TaskSetDone, TaskToggle, Undo
from proto.messages import CommandRequest, CommandResult, TaskEvent, TaskPublic
from services.crud import journal, listlogic, summaries
from services.crud.connection import one, transaction
from services.crud.errors import IdReused, Refused
from services.crud.listlogic import Change, Done, Row

COLUMNS = "id, name, done, position, version"


class Applied(NamedTuple):
    """What a command did: its result, its events, and what undoes it (None: it changed nothing)."""

    result: CommandResult
    events: list[TaskEvent]
    inverse: dict[str, Any] | None


def row_of(stored: aiosqlite.Row | tuple[Any, ...]) -> Row:
    return Row(stored[0], stored[1], bool(stored[2]), stored[3], stored[4])


def public(row: Row) -> TaskPublic:
    assert row.id is not None
    return TaskPublic(id=row.id, name=row.name, done=row.done, position=row.position, version=row.version)


async def rows(conn: aiosqlite.Connection) -> list[Row]:
    """The whole list in list order, as plain rows."""
    async with conn.execute(f"SELECT {COLUMNS} FROM tasks ORDER BY position") as cursor:
        return [row_of(stored) for stored in await cursor.fetchall()]


async def stored_result(conn: aiosqlite.Connection, command_id: str) -> CommandResult | None:
    async with conn.execute("SELECT result FROM commands WHERE command_id = ?", (command_id,)) as cursor:
        row = await cursor.fetchone()
    return CommandResult.model_validate_json(row[0]) if row else None


async def _stored_for(conn: aiosqlite.Connection, request: CommandRequest) -> CommandResult | None:
    """The stored result of this very command under its id; None when the id is new. IdReused when the id
    was used for something else (another command, or a notice or confirmation of the audit trail)."""
    async with conn.execute(
        "SELECT result, fingerprint, op, command, actor, run_id FROM commands WHERE command_id = ?",
        (request.command_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    result, fingerprint, op, command, actor, run_id = row
    if fingerprint is None:
        fingerprint = _fingerprint_of(request.command_id, command, actor, run_id)
    if fingerprint != request.fingerprint():
        raise IdReused(request.command_id, op)
    return CommandResult.model_validate_json(result)


def _fingerprint_of(command_id: str, command: str, actor: str, run_id: str | None) -> str | None:
    """The fingerprint of a row stored before fingerprints were (None: the row is not a task command)."""
    try:
        stored = CommandRequest.model_validate(
            {"command_id": command_id, "command": json.loads(command), "actor": json.loads(actor), "run_id": run_id}
        )
    except ValueError:
        return None
    return stored.fingerprint()


async def execute(conn: aiosqlite.Connection, request: CommandRequest) -> tuple[CommandResult, bool]:
    """Apply a command exactly once: (its result, whether anything new happened). The change, the
    result, the inverse and the events commit together or not at all. The same id with another command
    is IdReused."""
    stored = await _stored_for(conn, request)
    if stored is not None:
        return stored, False
    now = time.time()
    command = request.command
    async with transaction(conn):
        try:
            applied = await _one_row(conn, request, now)
            if applied is None:
                applied = await _general(conn, request, now)
        except Refused as refused:
            failed = CommandResult(command_id=request.command_id, ok=False, op=command.op, error=refused.error)
            applied = Applied(failed, [], None)
        result, events, inverse = applied
        await conn.execute(
            "INSERT INTO commands"
            " (command_id, actor, run_id, op, command, result, ok, created_at, inverse, fingerprint)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.command_id,
                request.actor.model_dump_json(exclude_none=True),
                request.run_id,
                command.op,
                command.model_dump_json(exclude_none=True),
                result.model_dump_json(exclude_none=True),
                int(result.ok),
                now,
                json.dumps(inverse) if inverse else None,
                request.fingerprint(),
            ),
        )
        queued = [(event.event_id, subjects.ui_event("task", event.kind), encode(event)) for event in events]
        await journal.emit(conn, request.command_id, queued, now)
    return result, True


async def _general(conn: aiosqlite.Connection, request: CommandRequest, now: float) -> Applied:
    """Any command: the new list computed from the whole current one, the difference written."""
    command = request.command
    before = await rows(conn)
    if isinstance(command, Undo):
        outcome = listlogic.undo(command, await _done(conn, command), before)
    else:
        outcome = listlogic.compute(command, before)
    changes = await _write(conn, listlogic.diff(before, outcome.rows), now)
    task: TaskPublic | None = None
    if isinstance(command, TaskCreate):
        task = next(public(c.row) for c in changes if c.kind == "created")
    elif outcome.focus is not None:
        # Changed (a deleted task as its event shows it), or else as it stands.
        focus = next((c.row for c in changes if c.row.id == outcome.focus), None)
        if focus is None:
            focus = next(r for r in before if r.id == outcome.focus)
        task = public(focus)
    if outcome.undoes:
        await conn.executemany(
            "UPDATE commands SET undone_by = ? WHERE command_id = ?",
            [(request.command_id, undone) for undone in outcome.undoes],
        )
        await _redo(conn, outcome.undoes, changes)
    result = CommandResult(command_id=request.command_id, ok=True, op=command.op, task=task, summary=outcome.summary)
    return Applied(result, _events(request, changes, now), listlogic.inverse(changes))


async def _redo(conn: aiosqlite.Connection, undoes: list[str], changes: Sequence[Change]) -> None:
    """Undoing an undo (a redo) makes the commands it had undone undoable again: each is enabled, and its
    inverse now expects the tasks at the versions the redo left them at (the versions they had before
    the first undo are gone; versions only grow)."""
    marks = ",".join("?" * len(undoes))
    async with conn.execute(
        f"SELECT command_id, inverse FROM commands WHERE undone_by IN ({marks}) ORDER BY rowid DESC", undoes
    ) as cursor:
        redone = [(command_id, json.loads(inverse)) for command_id, inverse in await cursor.fetchall() if inverse]
    refreshed = listlogic.redone([inverse for _, inverse in redone], changes)
    await conn.executemany(
        "UPDATE commands SET inverse = ? WHERE command_id = ?",
        [(json.dumps(inverse), command_id) for (command_id, _), inverse in zip(redone, refreshed, strict=True)],
    )
    await conn.execute(f"UPDATE commands SET undone_by = NULL WHERE undone_by IN ({marks})", undoes)


async def _one_row(conn: aiosqlite.Connection, request: CommandRequest, now: float) -> Applied | None:
    """The common commands that touch one row and move nothing (a create at the end; a toggle,
    set_done or rename by id), written without reading the whole list. The same results, events
    and inverses as the general path; anything else returns None and takes that path."""
    command = request.command
    if isinstance(command, TaskCreate) and command.position is None:
        async with conn.execute("SELECT COUNT(*) FROM tasks") as cursor:
            found = await cursor.fetchone()
        count = int(found[0]) if found else 0
        if count >= MAX_TASKS:
            return None  # the general path refuses it, with its message
        changes = await _write(conn, [Change("created", Row(None, command.name, False, count, 1), None)], now)
        summary = summaries.added(command.name)
    elif isinstance(command, TaskToggle | TaskSetDone | TaskRename) and command.id is not None:
        async with conn.execute(f"SELECT {COLUMNS} FROM tasks WHERE id = ?", (command.id,)) as cursor:
            found = await cursor.fetchone()
        target = listlogic.resolve(command, [row_of(found)] if found else [])
        changed, summary = listlogic.change(command, target)
        if changed == target:
            unchanged = CommandResult(
                command_id=request.command_id, ok=True, op=command.op, task=public(target), summary=summary
            )
            return Applied(unchanged, [], None)
        changes = await _write(conn, [listlogic.updated(target, changed)], now)
    else:
        return None
    task = public(changes[0].row)
    result = CommandResult(command_id=request.command_id, ok=True, op=command.op, task=task, summary=summary)
    return Applied(result, _events(request, changes, now), listlogic.inverse(changes))


async def _write(conn: aiosqlite.Connection, changes: Sequence[Change], now: float) -> list[Change]:
    """Write the changes; the same changes come back, created tasks with their new ids."""
    written: list[Change] = []
    for change in changes:
        row = change.row
        if change.kind == "created" and row.id is None:
            cursor = await conn.execute(
                "INSERT INTO tasks (name, done, position, version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (row.name, int(row.done), row.position, row.version, now, now),
            )
            change = change._replace(row=row._replace(id=(await one(cursor))[0]))
        elif change.kind == "created":  # brought back by an undo, with its old id
            await conn.execute(
                "INSERT INTO tasks (id, name, done, position, version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.name, int(row.done), row.position, row.version, now, now),
            )
        written.append(change)
    # Deletes and updates are written in one statement each (their new versions are known: the list
    # was read in this transaction); only inserts need their own, for the new id.
    deleted = [(c.row.id,) for c in changes if c.kind == "deleted"]
    if deleted:
        await conn.executemany("DELETE FROM tasks WHERE id = ?", deleted)
    updated = [(r.name, int(r.done), r.position, r.version, now, r.id) for kind, r, _ in changes if kind == "updated"]
    if updated:
        await conn.executemany(
            "UPDATE tasks SET name = ?, done = ?, position = ?, version = ?, updated_at = ? WHERE id = ?", updated
        )
    return written


def _events(request: CommandRequest, changes: Sequence[Change], now: float) -> list[TaskEvent]:
    return [
        TaskEvent(
            event_id=uuid.uuid4().hex,
            kind=change.kind,
            task=public(change.row),
            actor=request.actor,
            command_id=request.command_id,
            at=now,
        )
        for change in changes
    ]


async def _done(conn: aiosqlite.Connection, command: Undo) -> list[Done]:
    """The commands an undo names: one by its id, or every one of a run not undone yet, newest first."""
    columns = "command_id, result, inverse, undone_by"
    if command.command_id is not None:
        query = f"SELECT {columns} FROM commands WHERE command_id = ?"
        params: tuple[str, ...] = (command.command_id,)
    else:
        assert command.run_id is not None
        query = f"SELECT {columns} FROM commands WHERE run_id = ? AND ok = 1 AND undone_by IS NULL ORDER BY rowid DESC"
        params = (command.run_id,)
    async with conn.execute(query, params) as cursor:
        found = await cursor.fetchall()
    done = []
    for command_id, result_json, inverse_json, undone_by in found:
        result = CommandResult.model_validate_json(result_json)
        inverse = json.loads(inverse_json) if inverse_json is not None else None
        done.append(Done(command_id, result.ok, result.summary, inverse, undone_by))
    return done
