"""The task database: the only code that writes it.

Each command is one transaction holding the change, its stored result (so a retried command id returns
it again and changes nothing), its inverse (for undo) and its UI events (the outbox). A command is
computed as a new list from the current one; the difference is what gets written, versioned and
evented, so every change has exactly one event and positions always read 0..n-1."""

from __future__ import annotations

import difflib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from proto import subjects
from proto.codec import encode
from proto.commands import (
    MAX_TASKS,
    AnyCommand,
    TaskClearCompleted,
    TaskCreate,
    TaskDelete,
    TaskMove,
    TaskRename,
    TaskReorder,
    TaskSetDone,
    TaskToggle,
    Undo,
    _Targeted,
)
from proto.messages import (
    Actor,
    AuditEntry,
    ChatMessage,
    CommandError,
    CommandRequest,
    CommandResult,
    Confirmation,
    ConfirmationEvent,
    ConfirmationState,
    Notice,
    NoticeRequest,
    TaskEvent,
    TaskPublic,
)

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_CANDIDATES = 10
CLOSE_MATCH = 0.75

_TASK_COLUMNS = "id, name, done, position, version"


class Refused(Exception):
    """A command that cannot be applied as asked; its error goes back to whoever sent it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = CommandError(code=code, message=message)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Pending:
    """An outbox row waiting to be published."""

    seq: int
    event_id: str
    subject: str
    payload: bytes


@dataclass
class Row:
    """A task in a list being computed; `id` None is a task still to be created."""

    id: int | None
    name: str
    done: bool
    version: int = 0
    floor: int = 0  # for a task brought back by an undo: the version it was deleted at


@dataclass
class Outcome:
    """What a command computed: the new list, its sentence, the task to report, and, for an undo, the
    commands it undoes."""

    rows: list[Row]
    summary: str
    focus: int | None = None
    undoes: list[str] = field(default_factory=list)


def _task(row: aiosqlite.Row | tuple[Any, ...]) -> TaskPublic:
    return TaskPublic(id=row[0], name=row[1], done=bool(row[2]), position=row[3], version=row[4])


def quoted(name: str) -> str:
    return f"“{name}”"


def _state(task: TaskPublic) -> str:
    return f"{quoted(task.name)}, {'done' if task.done else 'not done'}, version {task.version}"


class Database:
    """The SQLite file in WAL mode, migrated at open; every write goes through `execute`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL loses nothing when the process dies (SIGKILL); only a power cut can undo
        # the last commits. FULL would fsync every command.
        await conn.execute("PRAGMA synchronous=NORMAL")
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

    # ---- executing a command ---------------------------------------------------------------------

    async def execute(self, request: CommandRequest) -> tuple[CommandResult, bool]:
        """Apply a command exactly once: (its result, whether anything new happened). The change, the
        result, the inverse and the events commit together or not at all."""
        stored = await self.stored_result(request.command_id)
        if stored is not None:
            return stored, False
        now = time.time()
        command = request.command
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            events: list[TaskEvent] = []
            inverse: dict[str, Any] | None = None
            try:
                fast = await self._one_row(request, now)
                if fast is not None:
                    result, events, inverse = fast
                else:
                    result, events, inverse = await self._general(request, now)
            except Refused as refused:
                result = CommandResult(command_id=request.command_id, ok=False, op=command.op, error=refused.error)
                events, inverse = [], None
            await self.conn.execute(
                "INSERT INTO commands (command_id, actor, run_id, op, command, result, ok, created_at, inverse)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ),
            )
            # One statement for all of them: a delete near the top of a long list has an event for
            # every task after it, and each statement is a round trip to SQLite's thread.
            await self.conn.executemany(
                "INSERT INTO outbox (event_id, command_id, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (event.event_id, request.command_id, subjects.ui_event("task", event.kind), encode(event), now)
                    for event in events
                ],
            )
            await self.conn.execute("COMMIT")
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        return result, True

    async def _general(
        self, request: CommandRequest, now: float
    ) -> tuple[CommandResult, list[TaskEvent], dict[str, Any] | None]:
        """Any command: the new list computed from the whole current one, the difference written."""
        command = request.command
        before = await self.list_tasks()
        outcome = await self._compute(command, before)
        after, events, inverse = await self._write(before, outcome.rows, request, now)
        task: TaskPublic | None
        if isinstance(command, TaskCreate):
            task = next(e.task for e in events if e.kind == "created")
        else:
            task = next((t for t in after if t.id == outcome.focus), None)
            if task is None and outcome.focus is not None:
                task = next((e.task for e in events if e.task.id == outcome.focus), None)
        result = CommandResult(
            command_id=request.command_id, ok=True, op=command.op, task=task, summary=outcome.summary
        )
        for undone in outcome.undoes:
            await self.conn.execute(
                "UPDATE commands SET undone_by = ? WHERE command_id = ?", (request.command_id, undone)
            )
        if isinstance(command, Undo):
            # Undoing an undo (a redo) makes the commands it had undone undoable again.
            await self.conn.execute(
                f"UPDATE commands SET undone_by = NULL WHERE undone_by IN ({','.join('?' * len(outcome.undoes))})",
                outcome.undoes,
            )
        return result, events, inverse

    async def _one_row(
        self, request: CommandRequest, now: float
    ) -> tuple[CommandResult, list[TaskEvent], dict[str, Any] | None] | None:
        """The common commands that touch one row and move nothing (a create at the end; a toggle,
        set_done or rename by id), written without reading the whole list. The same results, events
        and inverses as the general path; anything else returns None and takes that path."""
        command = request.command
        if isinstance(command, TaskCreate) and command.position is None:
            async with self.conn.execute("SELECT COUNT(*) FROM tasks") as cursor:
                row = await cursor.fetchone()
            count = int(row[0]) if row else 0
            if count >= MAX_TASKS:
                return None  # the general path refuses it, with its message
            cursor = await self.conn.execute(
                "INSERT INTO tasks (name, done, position, version, created_at, updated_at)"
                f" VALUES (?, 0, ?, 1, ?, ?) RETURNING {_TASK_COLUMNS}",
                (command.name, count, now, now),
            )
            task = _task(await _one(cursor))
            event = self._event(request, "created", task, now)
            inverse = {"before": [], "created": [task.id], "after": {str(task.id): 1}, "tombs": {}}
            result = CommandResult(
                command_id=request.command_id, ok=True, op=command.op, task=task, summary=f"Added {quoted(task.name)}."
            )
            return result, [event], inverse
        if not isinstance(command, TaskToggle | TaskSetDone | TaskRename) or command.id is None:
            return None
        async with self.conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (command.id,)) as cursor:
            found = await cursor.fetchone()
        current = _task(found) if found else None
        target = self.resolve(command, [current] if current else [])
        name, done = target.name, target.done
        if isinstance(command, TaskToggle):
            done = not done
            summary = f"Marked {quoted(target.name)} {'done' if done else 'not done'}."
        elif isinstance(command, TaskSetDone):
            state = "done" if command.done else "not done"
            if target.done == command.done:
                ok = CommandResult(
                    command_id=request.command_id,
                    ok=True,
                    op=command.op,
                    task=target,
                    summary=f"{quoted(target.name)} was already {state}.",
                )
                return ok, [], None
            done = command.done
            summary = f"Marked {quoted(target.name)} {state}."
        else:
            if target.name == command.new_name:
                same = CommandResult(
                    command_id=request.command_id,
                    ok=True,
                    op=command.op,
                    task=target,
                    summary=f"{quoted(target.name)} already has that name.",
                )
                return same, [], None
            name = command.new_name
            summary = f"Renamed {quoted(target.name)} to {quoted(name)}."
        cursor = await self.conn.execute(
            "UPDATE tasks SET name = ?, done = ?, version = version + 1, updated_at = ?"
            f" WHERE id = ? RETURNING {_TASK_COLUMNS}",
            (name, int(done), now, target.id),
        )
        task = _task(await _one(cursor))
        inverse = {"before": [target.model_dump()], "created": [], "after": {str(task.id): task.version}, "tombs": {}}
        result = CommandResult(command_id=request.command_id, ok=True, op=command.op, task=task, summary=summary)
        return result, [self._event(request, "updated", task, now)], inverse

    @staticmethod
    def _event(request: CommandRequest, kind: str, task: TaskPublic, now: float) -> TaskEvent:
        return TaskEvent(
            event_id=uuid.uuid4().hex,
            kind=kind,  # type: ignore[arg-type]
            task=task,
            actor=request.actor,
            command_id=request.command_id,
            at=now,
        )

    async def _compute(self, command: AnyCommand, tasks: list[TaskPublic]) -> Outcome:
        rows = [Row(t.id, t.name, t.done, t.version) for t in tasks]
        if isinstance(command, TaskCreate):
            if len(rows) >= MAX_TASKS:
                raise Refused("invalid", f"The list is full ({MAX_TASKS} tasks); delete some first.")
            position = len(rows) if command.position is None else min(command.position, len(rows))
            rows.insert(position, Row(None, command.name, False))
            where = "" if position == len(rows) - 1 else f" at place {position + 1}"
            return Outcome(rows, f"Added {quoted(command.name)}{where}.")
        if isinstance(command, TaskReorder):
            return self._reorder(command, rows)
        if isinstance(command, TaskClearCompleted):
            done = [r for r in rows if r.done]
            if not done:
                return Outcome(rows, "There is nothing done to clear.")
            names = ", ".join(quoted(r.name) for r in done[:MAX_CANDIDATES])
            more = f" and {len(done) - MAX_CANDIDATES} more" if len(done) > MAX_CANDIDATES else ""
            return Outcome([r for r in rows if not r.done], f"Cleared {len(done)} done: {names}{more}.")
        if isinstance(command, Undo):
            return await self._undo(command, tasks)
        assert isinstance(command, _Targeted)
        target = self.resolve(command, tasks)
        index = next(i for i, r in enumerate(rows) if r.id == target.id)
        row = rows[index]
        if isinstance(command, TaskDelete):
            del rows[index]
            return Outcome(rows, f"Deleted {quoted(target.name)}.", focus=target.id)
        if isinstance(command, TaskToggle):
            row.done = not row.done
            return Outcome(rows, f"Marked {quoted(target.name)} {'done' if row.done else 'not done'}.", target.id)
        if isinstance(command, TaskSetDone):
            state = "done" if command.done else "not done"
            if row.done == command.done:
                return Outcome(rows, f"{quoted(target.name)} was already {state}.", target.id)
            row.done = command.done
            return Outcome(rows, f"Marked {quoted(target.name)} {state}.", target.id)
        if isinstance(command, TaskRename):
            if row.name == command.new_name:
                return Outcome(rows, f"{quoted(target.name)} already has that name.", target.id)
            row.name = command.new_name
            return Outcome(rows, f"Renamed {quoted(target.name)} to {quoted(command.new_name)}.", target.id)
        assert isinstance(command, TaskMove)
        del rows[index]
        position = min(command.position, len(rows))
        rows.insert(position, row)
        return Outcome(rows, f"Moved {quoted(target.name)} to place {position + 1}.", target.id)

    def _reorder(self, command: TaskReorder, rows: list[Row]) -> Outcome:
        current = {r.id for r in rows}
        wanted = set(command.order)
        if wanted != current:
            missing = sorted(i for i in current - wanted if i is not None)
            unknown = sorted(wanted - current)
            parts = []
            if missing:
                parts.append("it leaves out " + ", ".join(f"#{i}" for i in missing[:MAX_CANDIDATES]))
            if unknown:
                parts.append("there is no " + ", ".join(f"#{i}" for i in unknown[:MAX_CANDIDATES]))
            raise Refused("invalid", "A reorder must list every task once: " + "; ".join(parts) + ".")
        by_id = {r.id: r for r in rows}
        return Outcome([by_id[i] for i in command.order], f"Put the {len(rows)} tasks in the new order.")

    def resolve(self, command: _Targeted, tasks: list[TaskPublic]) -> TaskPublic:
        """The task a command targets: by id, or by name (the same ignoring case, else the one clearly
        closest); a missing or ambiguous name says which tasks exist. A stale expected version is refused."""
        if command.id is not None:
            found = next((t for t in tasks if t.id == command.id), None)
            if found is None:
                raise Refused("not_found", f"There is no task #{command.id}.")
        else:
            assert command.name is not None
            found = self._by_name(command.name, tasks)
        if command.expected_version is not None and command.expected_version != found.version:
            raise Refused(
                "conflict",
                f"{quoted(found.name)} changed since version {command.expected_version}: it is now {_state(found)}.",
            )
        return found

    def _by_name(self, name: str, tasks: list[TaskPublic]) -> TaskPublic:
        wanted = name.casefold()
        exact = [t for t in tasks if t.name.casefold() == wanted]
        if len(exact) == 1:
            return exact[0]
        if exact:
            listed = ", ".join(f"#{t.id} {quoted(t.name)}" for t in exact[:MAX_CANDIDATES])
            raise Refused("ambiguous", f"Several tasks are called {quoted(name)}: {listed}; give the id.")
        folded = {t.name.casefold(): t for t in tasks}
        close = {folded[n].id: folded[n] for n in difflib.get_close_matches(wanted, list(folded), 5, CLOSE_MATCH)}
        close |= {t.id: t for t in tasks if len(wanted) >= 3 and wanted in t.name.casefold()}
        if len(close) == 1:
            return next(iter(close.values()))
        if close:
            listed = ", ".join(f"#{t.id} {quoted(t.name)}" for t in list(close.values())[:MAX_CANDIDATES])
            raise Refused("ambiguous", f"{quoted(name)} could be {listed}; give the id or the exact name.")
        if not tasks:
            raise Refused("not_found", f"There is no {quoted(name)}: the list is empty.")
        listed = ", ".join(quoted(t.name) for t in tasks[:MAX_CANDIDATES])
        more = f" and {len(tasks) - MAX_CANDIDATES} more" if len(tasks) > MAX_CANDIDATES else ""
        raise Refused("not_found", f"There is no {quoted(name)}. The list has {listed}{more}.")

    # ---- writing the difference ------------------------------------------------------------------

    async def _write(
        self, before: list[TaskPublic], rows: list[Row], request: CommandRequest, now: float
    ) -> tuple[list[TaskPublic], list[TaskEvent], dict[str, Any] | None]:
        """Write the new list as the difference from the old one: one event per task that changed."""
        old = {t.id: t for t in before}
        events: list[TaskEvent] = []
        after: list[TaskPublic] = []
        changed_before: list[dict[str, Any]] = []
        created: list[int] = []
        versions: dict[str, int | None] = {}
        tombs: dict[str, int] = {}

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

        kept = {r.id for r in rows if r.id is not None}
        # Deletes and updates are written in one statement each after the loop (the new versions are
        # known: `before` was read in this transaction); only inserts need their own, for the new id.
        deleted: list[tuple[int]] = []
        updated: list[tuple[str, int, int, float, int]] = []
        for task in before:
            if task.id not in kept:
                deleted.append((task.id,))
                gone = task.model_copy(update={"version": task.version + 1})
                event("deleted", gone)
                changed_before.append(task.model_dump())
                versions[str(task.id)] = None
                tombs[str(task.id)] = gone.version
        for position, row in enumerate(rows):
            previous = old.get(row.id) if row.id is not None else None
            if previous is None:
                if row.id is None:
                    cursor = await self.conn.execute(
                        "INSERT INTO tasks (name, done, position, version, created_at, updated_at)"
                        f" VALUES (?, ?, ?, 1, ?, ?) RETURNING {_TASK_COLUMNS}",
                        (row.name, int(row.done), position, now, now),
                    )
                else:  # brought back by an undo, with its old id
                    cursor = await self.conn.execute(
                        "INSERT INTO tasks (id, name, done, position, version, created_at, updated_at)"
                        f" VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_TASK_COLUMNS}",
                        (row.id, row.name, int(row.done), position, max(row.version, row.floor) + 1, now, now),
                    )
                task = _task(await _one(cursor))
                created.append(task.id)
                versions[str(task.id)] = task.version
                event("created", task)
                after.append(task)
                continue
            if (previous.name, previous.done, previous.position) == (row.name, row.done, position):
                after.append(previous)
                continue
            task = previous.model_copy(
                update={"name": row.name, "done": row.done, "position": position, "version": previous.version + 1}
            )
            updated.append((task.name, int(task.done), position, now, task.id))
            changed_before.append(previous.model_dump())
            versions[str(task.id)] = task.version
            event("updated", task)
            after.append(task)
        await self.conn.executemany("DELETE FROM tasks WHERE id = ?", deleted)
        await self.conn.executemany(
            "UPDATE tasks SET name = ?, done = ?, position = ?, version = version + 1, updated_at = ? WHERE id = ?",
            updated,
        )
        if not events:
            return after, events, None
        inverse = {"before": changed_before, "created": created, "after": versions, "tombs": tombs}
        return after, events, inverse

    # ---- undo ------------------------------------------------------------------------------------

    async def _undo(self, command: Undo, tasks: list[TaskPublic]) -> Outcome:
        if command.command_id is not None:
            query = "SELECT command_id, op, result, inverse, undone_by FROM commands WHERE command_id = ?"
            params: tuple[str, ...] = (command.command_id,)
        else:
            assert command.run_id is not None
            query = (
                "SELECT command_id, op, result, inverse, undone_by FROM commands"
                " WHERE run_id = ? AND ok = 1 AND undone_by IS NULL ORDER BY rowid DESC"
            )
            params = (command.run_id,)
        async with self.conn.execute(query, params) as cursor:
            found = list(await cursor.fetchall())
        if not found:
            what = f"command {command.command_id}" if command.command_id else f"run {command.run_id}"
            raise Refused("not_found", f"There is nothing to undo for {what}.")
        rows = [Row(t.id, t.name, t.done, t.version) for t in tasks]
        undone: list[str] = []
        sentences: list[str] = []
        for command_id, _op, result_json, inverse_json, undone_by in found:
            if undone_by is not None:
                raise Refused("conflict", f"Command {command_id} was already undone (by {undone_by}).")
            result = CommandResult.model_validate_json(result_json)
            if not result.ok:
                raise Refused("not_found", f"Command {command_id} failed, so there is nothing to undo.")
            if inverse_json is None:
                continue  # it changed nothing
            rows = self._revert(json.loads(inverse_json), rows, command_id)
            undone.append(command_id)
            sentences.append(result.summary)
        if not undone:
            raise Refused("not_found", "Those commands changed nothing, so there is nothing to undo.")
        if len(sentences) == 1:
            summary = f"Undid: {sentences[0]}"
        else:
            summary = f"Undid {len(sentences)} changes: " + " ".join(sentences)
        return Outcome(rows, summary, undoes=undone)

    def _revert(self, inverse: dict[str, Any], rows: list[Row], command_id: str) -> list[Row]:
        """The list with one command's change taken back, refused if a task it touched changed since."""
        current = {r.id: r for r in rows}
        for key, version in inverse["after"].items():
            task_id = int(key)
            now = current.get(task_id)
            if version is None and now is not None:
                raise Refused("conflict", f"Cannot undo {command_id}: task #{task_id} is back on the list.")
            if version is not None and (now is None or now.version != version):
                state = "deleted since" if now is None else f"changed since (now {quoted(now.name)})"
                raise Refused("conflict", f"Cannot undo {command_id}: task #{task_id} was {state}.")
        created = set(inverse["created"])
        before = [TaskPublic.model_validate(t) for t in inverse["before"]]
        restored_ids = {t.id for t in before}
        rest = [r for r in rows if r.id not in created and r.id not in restored_ids]
        for task in sorted(before, key=lambda t: t.position):
            existing = current.get(task.id)
            # The row carries the version the task had before the command, so an older command of the
            # same run is checked against the state it left; the database's versions still only grow.
            floor = existing.floor if existing else int(inverse.get("tombs", {}).get(str(task.id), 0))
            row = Row(task.id, task.name, task.done, task.version, floor)
            rest.insert(min(task.position, len(rest)), row)
        return rest

    # ---- outbox, audit, conversations -------------------------------------------------------------

    async def pending(self, limit: int = 100) -> list[Pending]:
        """Outbox rows not yet acknowledged by JetStream, oldest first."""
        async with self.conn.execute(
            "SELECT seq, event_id, subject, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,)
        ) as cursor:
            return [Pending(row[0], row[1], row[2], bytes(row[3])) for row in await cursor.fetchall()]

    async def mark_sent(self, seqs: list[int]) -> None:
        """Mark outbox rows published (JetStream acknowledged them)."""
        if seqs:
            marks = ",".join("?" * len(seqs))
            await self.conn.execute(f"UPDATE outbox SET sent_at = ? WHERE seq IN ({marks})", (time.time(), *seqs))

    async def audit(self, run_id: str | None, limit: int) -> list[AuditEntry]:
        """Every command as recorded, newest first, with the ids of the events it produced."""
        where, params = ("WHERE c.run_id = ?", [run_id]) if run_id else ("", [])
        query = (
            "SELECT c.command_id, c.actor, c.run_id, c.op, c.command, c.result, c.undone_by, c.created_at,"
            " (SELECT group_concat(o.event_id) FROM outbox o WHERE o.command_id = c.command_id)"
            f" FROM commands c {where} ORDER BY c.rowid DESC LIMIT ?"
        )
        async with self.conn.execute(query, [*params, limit]) as cursor:
            rows = await cursor.fetchall()
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

    async def notify(self, request: NoticeRequest) -> bool:
        """Queue a notice for every browser, once per notice id, recorded in the audit trail."""
        now = time.time()
        notice = Notice(event_id=request.notice_id, level=request.level, text=request.text, at=now)
        result = CommandResult(command_id=request.notice_id, ok=True, op="notify", summary="Sent a notice.")
        command = {"op": "notify", "level": request.level, "text": request.text}
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            new = await self._record(request.notice_id, request.actor, None, command, result, now)
            if new:
                await self._emit(request.notice_id, request.notice_id, subjects.UI_NOTIFY, encode(notice), now)
            await self.conn.execute("COMMIT")
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        return new

    async def _record(
        self,
        command_id: str,
        actor: Actor,
        run_id: str | None,
        command: dict[str, Any],
        result: CommandResult,
        now: float,
    ) -> bool:
        """An audit row for something that is not a task command (a notice, a confirmation); once per id."""
        cursor = await self.conn.execute(
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

    async def _emit(self, event_id: str, command_id: str, subject: str, payload: bytes, now: float) -> None:
        await self.conn.execute(
            "INSERT INTO outbox (event_id, command_id, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            (event_id, command_id, subject, payload, now),
        )

    # ---- confirmations ---------------------------------------------------------------------------

    async def confirmation(self, call_id: str) -> Confirmation | None:
        async with self.conn.execute("SELECT body FROM confirmations WHERE call_id = ?", (call_id,)) as cursor:
            row = await cursor.fetchone()
        return Confirmation.model_validate_json(row[0]) if row else None

    async def ask_confirmation(self, asked: Confirmation) -> tuple[Confirmation, bool]:
        """Record a command waiting for approval, once per call: (the confirmation as stored, whether it
        is new). Asked again, as a redelivered run does, it is the stored one, answered or not."""
        stored = await self.confirmation(asked.call_id)
        if stored is not None:
            return stored, False
        pending = asked.model_copy(update={"state": "pending", "at": time.time()})
        await self._confirmation_changed(pending, pending.asked_by)
        return pending, True

    async def settle_confirmation(
        self, call_id: str, state: ConfirmationState, actor: Actor
    ) -> tuple[Confirmation | None, bool]:
        """Answer a pending confirmation (approved, rejected, expired, stopped): (the confirmation as
        stored, whether this changed it). An answer stands: a later one changes nothing."""
        stored = await self.confirmation(call_id)
        if stored is None or stored.state != "pending" or state == "pending":
            return stored, False
        settled = stored.model_copy(update={"state": state, "at": time.time()})
        await self._confirmation_changed(settled, actor)
        return settled, True

    async def pending_confirmations(self, max_age_s: float) -> list[Confirmation]:
        """Confirmations still waiting, oldest first, asked within the last `max_age_s` seconds."""
        async with self.conn.execute(
            "SELECT body FROM confirmations WHERE state = 'pending' AND updated_at >= ? ORDER BY updated_at",
            (time.time() - max_age_s,),
        ) as cursor:
            return [Confirmation.model_validate_json(row[0]) for row in await cursor.fetchall()]

    async def _confirmation_changed(self, confirmation: Confirmation, actor: Actor) -> None:
        """The confirmation's new state, its audit row and its UI event, in one transaction."""
        now = confirmation.at
        event_id = f"{confirmation.call_id}-{confirmation.state}"
        body = confirmation.model_dump_json(exclude_none=True)
        command = {"op": "confirm", "call_id": confirmation.call_id, "state": confirmation.state}
        summary = f"{confirmation.state.capitalize()}: {confirmation.question}"
        result = CommandResult(command_id=event_id, ok=True, op="confirm", summary=summary)
        event = ConfirmationEvent(event_id=event_id, confirmation=confirmation, at=now)
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            await self.conn.execute(
                "INSERT INTO confirmations (call_id, run_id, state, body, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (call_id) DO UPDATE SET state = excluded.state, body = excluded.body,"
                " updated_at = excluded.updated_at",
                (confirmation.call_id, confirmation.run_id, confirmation.state, body, now),
            )
            if await self._record(event_id, actor, confirmation.run_id, command, result, now):
                await self._emit(event_id, event_id, subjects.UI_CONFIRMATION, encode(event), now)
            await self.conn.execute("COMMIT")
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise

    async def append_message(self, message: ChatMessage) -> bool:
        """Store one conversation message; the same message id twice is stored once."""
        cursor = await self.conn.execute(
            "INSERT OR IGNORE INTO messages (message_id, thread_id, role, text, run_id, at) VALUES (?, ?, ?, ?, ?, ?)",
            (message.message_id, message.thread_id, message.role, message.text, message.run_id, message.at),
        )
        stored = cursor.rowcount == 1
        await cursor.close()
        return stored

    async def recent_messages(self, thread_id: str, limit: int) -> list[ChatMessage]:
        async with self.conn.execute(
            "SELECT message_id, thread_id, role, text, run_id, at FROM messages WHERE thread_id = ?"
            " ORDER BY seq DESC LIMIT ?",
            (thread_id, limit),
        ) as cursor:
            rows = list(await cursor.fetchall())
        return [
            ChatMessage(message_id=r[0], thread_id=r[1], role=r[2], text=r[3], run_id=r[4], at=r[5])
            for r in reversed(rows)
        ]


async def _one(cursor: aiosqlite.Cursor) -> tuple[Any, ...]:
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return tuple(row)
