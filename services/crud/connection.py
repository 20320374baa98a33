"""The SQLite connection: opened in WAL mode and migrated, and `transaction()` around every write."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATIONS = Path(__file__).parent / "migrations"


async def connect(path: Path) -> aiosqlite.Connection:
    """The database file at `path` (created if missing), migrated to the newest schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level None: the sqlite3 module opens no transaction of its own; `transaction()` does.
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL loses nothing when the process dies (SIGKILL); only a power cut can undo
    # the last commits. FULL would fsync every command.
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA busy_timeout=5000")
    await migrate(conn)
    return conn


async def migrate(conn: aiosqlite.Connection) -> list[str]:
    """Apply the numbered migrations newer than the file's `user_version`, each in its own transaction."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    applied = []
    for script in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        number = int(script.name[:4])
        if number <= current:
            continue
        sql = script.read_text()
        await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
        applied.append(script.name)
    return applied


@contextlib.asynccontextmanager
async def transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """Everything written in the block commits together, or, whatever leaves it early (an error, a
    cancellation, a failed commit), none of it does."""
    # IMMEDIATE takes the write lock at the start, so a transaction that reads then writes cannot be
    # refused halfway for a lock another connection took meanwhile.
    await conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise


async def one(cursor: aiosqlite.Cursor) -> tuple[Any, ...]:
    """The single row a statement returns (an INSERT … RETURNING), its cursor closed."""
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return tuple(row)
