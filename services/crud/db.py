"""The database: the only code that writes it. One object over the SQLite connection that the service,
the relay and the tests hold; each operation lives in the module of its table."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from proto.messages import (
    Actor,
    AuditEntry,
    ChatMessage,
    CommandRequest,
    CommandResult,
    Confirmation,
    ConfirmationState,
    NoticeRequest,
    TaskPublic,
)
from services.crud import confirmations, connection, conversations, journal, tasks
from services.crud.journal import Pending

__all__ = ["Database", "Pending"]


class Database:
    """The SQLite file in WAL mode, migrated at open; every write is one transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        # The list as last read, kept until a command may have changed it: every run reads it at its start,
        # and this object is the only writer of the tasks. `_changes` counts commands begun and ended, so a
        # read that overlapped one is not kept.
        self._listed: list[TaskPublic] | None = None
        self._changes = 0
        # What people did, as last read (`changes_by_people`: since, limit, entries), kept while no command is
        # recorded: every model run asks at its start, and this object records every command. `_recorded`
        # counts commands (and notices) begun and ended, as `_changes` does for the list.
        self._people: tuple[float, int, list[AuditEntry]] | None = None
        self._recorded = 0

    @classmethod
    async def open(cls, path: Path) -> Database:
        return cls(await connection.connect(path))

    async def close(self) -> None:
        await self.conn.close()

    async def migrate(self) -> list[str]:
        """Apply the numbered migrations newer than the file's `user_version`, each in its own transaction."""
        return await connection.migrate(self.conn)

    # Tasks and the commands on them (services.crud.tasks).

    async def list_tasks(self) -> list[TaskPublic]:
        """The whole list in list order (shared objects: read them, do not change them)."""
        if self._listed is not None:
            return list(self._listed)
        changes = self._changes
        listed = [tasks.public(row) for row in await tasks.rows(self.conn)]
        if changes == self._changes:
            self._listed = listed
        return list(listed)

    async def stored_result(self, command_id: str) -> CommandResult | None:
        return await tasks.stored_result(self.conn, command_id)

    async def execute(self, request: CommandRequest) -> tuple[CommandResult, bool]:
        """Apply a command exactly once: (its result, whether anything new happened). The change, the
        result, the inverse and the events commit together or not at all."""
        self._listed, self._changes = None, self._changes + 1
        self._people, self._recorded = None, self._recorded + 1
        try:
            return await tasks.execute(self.conn, request)
        finally:
            self._listed, self._changes = None, self._changes + 1
            self._people, self._recorded = None, self._recorded + 1

    # The audit trail and the outbox (services.crud.journal).

    async def pending(self, limit: int = 100) -> list[Pending]:
        """Outbox rows not yet acknowledged by JetStream, oldest first."""
        return await journal.pending(self.conn, limit)

    async def mark_sent(self, seqs: list[int]) -> None:
        """Mark outbox rows published (JetStream acknowledged them)."""
        await journal.mark_sent(self.conn, seqs)

    async def audit(self, run_id: str | None, limit: int) -> list[AuditEntry]:
        """Every command as recorded, newest first, with the ids of the events it produced."""
        return await journal.audit(self.conn, run_id, limit)

    async def changes_by_people(self, since: float, limit: int) -> list[AuditEntry]:
        """What people did after `since`, newest first (journal.by_people); shared objects: read them."""
        if self._people is not None:
            kept_since, kept_limit, kept = self._people
            if kept_since <= since and limit <= kept_limit:
                found = [entry for entry in kept if entry.at > since]
                # Exact when the read held every entry after its `since`, or when none was left out here.
                if len(kept) < kept_limit or len(found) == len(kept):
                    return found[:limit]
        recorded = self._recorded
        entries = await journal.by_people(self.conn, since, limit)
        if recorded == self._recorded:
            self._people = (since, limit, entries)
        return list(entries)

    async def notify(self, request: NoticeRequest) -> bool:
        """Queue a notice for every browser, once per notice id, recorded in the audit trail."""
        self._people, self._recorded = None, self._recorded + 1
        try:
            return await journal.notify(self.conn, request)
        finally:
            self._people, self._recorded = None, self._recorded + 1

    # Confirmations (services.crud.confirmations).

    async def confirmation(self, call_id: str) -> Confirmation | None:
        return await confirmations.get(self.conn, call_id)

    async def ask_confirmation(self, asked: Confirmation) -> tuple[Confirmation, bool]:
        """Record a command waiting for approval, once per call: (the confirmation as stored, whether it
        is new)."""
        return await confirmations.ask(self.conn, asked)

    async def settle_confirmation(
        self, call_id: str, state: ConfirmationState, actor: Actor, run_id: str | None = None
    ) -> tuple[Confirmation | None, bool]:
        """Answer a pending confirmation: (the confirmation as stored, whether this changed it)."""
        return await confirmations.settle(self.conn, call_id, state, actor, run_id)

    async def pending_confirmations(self, max_age_s: float) -> list[Confirmation]:
        """Confirmations still waiting, oldest first, asked within the last `max_age_s` seconds."""
        return await confirmations.pending(self.conn, max_age_s)

    # Conversations (services.crud.conversations).

    async def append_messages(self, messages: list[ChatMessage]) -> list[bool]:
        """Store messages in one transaction, in order; for each, whether it was new (the same message id twice is
        stored once)."""
        return await conversations.append_all(self.conn, messages)

    async def recent_messages(self, thread_id: str, limit: int) -> list[ChatMessage]:
        return await conversations.recent(self.conn, thread_id, limit)
