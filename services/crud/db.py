"""The task database: the only code that writes it. Each command is one transaction holding the change,
its stored result (so a retried command id returns it again and changes nothing) and its UI events."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from proto import subjects
from proto.codec import encode
from proto.commands import TaskCreate, TaskDelete, TaskToggle
from proto.messages import CommandError, CommandRequest, CommandResult, TaskEvent, TaskPublic

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_CANDIDATES = 10

_TASK_COLUMNS = "id, name, done, position, version"


class Refused(Exception):
    """A command that cannot be applied as asked; its error goes back to whoever sent it."""

    def __init__(self, error: CommandError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Pending:
    """An outbox row waiting to be published."""

    seq: int
    event_id: str
    subject: str
    payload: bytes


def _task(row: aiosqlite.Row | tuple[Any, ...]) -> TaskPublic:
    return TaskPublic(id=row[0], name=row[1], done=bool(row[2]), position=row[3], version=row[4])


def _quoted(name: str) -> str:
    return f"“{name}”"


class Database:
    """The SQLite file in WAL mode, migrated at open; every write goes through `execute`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        db = cls(conn)
        await db.migrate()
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def migrate(self) -> list[str]:
        """Apply the numbered migrations newer than the file's `user_version`, each in its own transaction."""
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        applied = []
        for script in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            number = int(script.name[:4])
            if number <= current:
                continue
            sql = script.read_text()
            await self.conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            applied.append(script.name)
        return applied

    async def list_tasks(self) -> list[TaskPublic]:
        async with self.conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks ORDER BY position") as cursor:
            return [_task(row) for row in await cursor.fetchall()]

    async def stored_result(self, command_id: str) -> CommandResult | None:
        async with self.conn.execute("SELECT result FROM commands WHERE command_id = ?", (command_id,)) as cursor:
            row = await cursor.fetchone()
        return CommandResult.model_validate_json(row[0]) if row else None

    async def execute(self, request: CommandRequest) -> tuple[CommandResult, bool]:
        """Apply a command exactly once: (its result, whether anything new happened). The change, the result
        and the events commit together or not at all."""
        stored = await self.stored_result(request.command_id)
        if stored is not None:
            return stored, False
        now = time.time()
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            events: list[TaskEvent] = []
            try:
                task, summary = await self._apply(request, now, events)
                result = CommandResult(
                    command_id=request.command_id, ok=True, op=request.command.op, task=task, summary=summary
                )
            except Refused as refused:
                result = CommandResult(
                    command_id=request.command_id, ok=False, op=request.command.op, error=refused.error
                )
                events = []
            await self.conn.execute(
                "INSERT INTO commands (command_id, actor, run_id, op, command, result, ok, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request.command_id,
                    request.actor.model_dump_json(exclude_none=True),
                    request.run_id,
                    request.command.op,
                    request.command.model_dump_json(exclude_none=True),
                    result.model_dump_json(exclude_none=True),
                    int(result.ok),
                    now,
                ),
            )
            for event in events:
                await self.conn.execute(
                    "INSERT INTO outbox (event_id, command_id, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                    (event.event_id, request.command_id, subjects.ui_event("task", event.kind), encode(event), now),
                )
            await self.conn.execute("COMMIT")
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        return result, True

    async def _apply(self, request: CommandRequest, now: float, events: list[TaskEvent]) -> tuple[TaskPublic, str]:
        command = request.command

        def event(kind: str, task: TaskPublic) -> None:
            events.append(
                TaskEvent(
                    event_id=uuid.uuid4().hex,
                    kind=kind,  # type: ignore[arg-type]
                    task=task,
                    actor=request.actor,
                    command_id=request.command_id,
                    at=now,
                )
            )

        if isinstance(command, TaskCreate):
            async with self.conn.execute("SELECT COUNT(*) FROM tasks") as cursor:
                row = await cursor.fetchone()
            position = int(row[0]) if row else 0
            cursor = await self.conn.execute(
                "INSERT INTO tasks (name, position, created_at, updated_at) VALUES (?, ?, ?, ?)"
                f" RETURNING {_TASK_COLUMNS}",
                (command.name, position, now, now),
            )
            task = _task(await _one(cursor))
            event("created", task)
            return task, f"Added {_quoted(task.name)}."
        target = await self._resolve(command)
        if isinstance(command, TaskToggle):
            cursor = await self.conn.execute(
                "UPDATE tasks SET done = 1 - done, version = version + 1, updated_at = ? WHERE id = ?"
                f" RETURNING {_TASK_COLUMNS}",
                (now, target.id),
            )
            task = _task(await _one(cursor))
            event("updated", task)
            state = "done" if task.done else "not done"
            return task, f"Marked {_quoted(task.name)} {state}."
        # Delete: close the gap so positions stay 0..n-1; the moved tasks change too.
        await self.conn.execute("DELETE FROM tasks WHERE id = ?", (target.id,))
        deleted = target.model_copy(update={"version": target.version + 1})
        event("deleted", deleted)
        cursor = await self.conn.execute(
            "UPDATE tasks SET position = position - 1, version = version + 1, updated_at = ? WHERE position > ?"
            f" RETURNING {_TASK_COLUMNS}",
            (now, target.position),
        )
        for row in sorted(await cursor.fetchall(), key=lambda r: r[3]):
            event("updated", _task(row))
        await cursor.close()
        return deleted, f"Deleted {_quoted(target.name)}."

    async def _resolve(self, command: TaskToggle | TaskDelete) -> TaskPublic:
        """The task a command targets: by id, or by name ignoring case; a wrong one says what exists."""
        if command.id is not None:
            async with self.conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (command.id,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise Refused(CommandError(code="not_found", message=f"There is no task #{command.id}."))
            return _task(row)
        assert command.name is not None
        tasks = await self.list_tasks()
        wanted = command.name.casefold()
        matches = [t for t in tasks if t.name.casefold() == wanted]
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = ", ".join(f"#{t.id} {_quoted(t.name)}" for t in matches[:MAX_CANDIDATES])
            raise Refused(
                CommandError(
                    code="ambiguous",
                    message=f"Several tasks are called {_quoted(command.name)}: {listed}; give the id.",
                )
            )
        if not tasks:
            raise Refused(
                CommandError(code="not_found", message=f"There is no {_quoted(command.name)}: the list is empty.")
            )
        listed = ", ".join(_quoted(t.name) for t in tasks[:MAX_CANDIDATES])
        more = f" and {len(tasks) - MAX_CANDIDATES} more" if len(tasks) > MAX_CANDIDATES else ""
        raise Refused(
            CommandError(code="not_found", message=f"There is no {_quoted(command.name)}. The list has {listed}{more}.")
        )

    async def pending(self, limit: int = 100) -> list[Pending]:
        """Outbox rows not yet acknowledged by JetStream, oldest first."""
        async with self.conn.execute(
            "SELECT seq, event_id, subject, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,)
        ) as cursor:
            return [Pending(row[0], row[1], row[2], bytes(row[3])) for row in await cursor.fetchall()]

    async def mark_sent(self, seq: int) -> None:
        await self.conn.execute("UPDATE outbox SET sent_at = ? WHERE seq = ?", (time.time(), seq))


async def _one(cursor: aiosqlite.Cursor) -> tuple[Any, ...]:
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return tuple(row)
