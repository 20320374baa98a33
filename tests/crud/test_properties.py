"""Random sequences of commands, repeated command ids and undos against the real database: the
invariants hold after every step, and replaying the events rebuilds exactly the table."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.codec import decode_ui_event
from proto.commands import (
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
)
from proto.messages import PERSON, CommandRequest, TaskPublic
from services.crud.db import Database

NAMES = st.sampled_from(["apples", "bread", "milk", "Milk", "tea", "call mom", "jam"])
IDS = st.integers(min_value=1, max_value=12)
STEP = st.one_of(
    st.builds(TaskCreate, name=NAMES, position=st.none() | st.integers(0, 8)),
    st.builds(TaskRename, id=IDS, new_name=NAMES),
    st.builds(TaskSetDone, id=IDS, done=st.booleans()),
    st.builds(TaskToggle, id=IDS),
    st.builds(TaskToggle, name=NAMES),
    st.builds(TaskDelete, id=IDS),
    st.builds(TaskMove, id=IDS, position=st.integers(0, 8)),
    st.builds(TaskClearCompleted),
    st.just("reorder"),
    st.just("undo"),
    st.just("repeat"),
)


async def invariants(db: Database, seen_versions: dict[int, int]) -> list[TaskPublic]:
    tasks = await db.list_tasks()
    assert [t.position for t in tasks] == list(range(len(tasks))), "positions form 0..n-1"
    for task in tasks:
        assert task.version >= seen_versions.get(task.id, 0), "versions only grow"
        seen_versions[task.id] = task.version
    async with db.conn.execute(
        "SELECT c.command_id, c.inverse IS NOT NULL, (SELECT COUNT(*) FROM outbox o WHERE o.command_id = c.command_id)"
        " FROM commands c"
    ) as cursor:
        for command_id, changed, events in await cursor.fetchall():
            assert bool(changed) == (events > 0), f"{command_id}: a change has events, no change has none"
    return tasks


def replay(payloads: list[bytes]) -> dict[int, tuple[str, bool, int, int]]:
    table: dict[int, tuple[str, bool, int, int]] = {}
    for payload in payloads:
        event = decode_ui_event(payload)
        if event.kind == "deleted":
            table.pop(event.task.id, None)
        else:
            t = event.task
            table[t.id] = (t.name, t.done, t.position, t.version)
    return table


async def run_steps(steps: list[Any], path: Path) -> None:
    db = await Database.open(path)
    try:
        seen: dict[int, int] = {}
        done: list[CommandRequest] = []
        for n, step in enumerate(steps):
            tasks = await db.list_tasks()
            command: AnyCommand
            if step == "reorder":
                command = TaskReorder(order=[t.id for t in reversed(tasks)])
            elif step == "undo":
                if not done:
                    continue
                command = Undo(command_id=done[n % len(done)].command_id)
            elif step == "repeat":
                if not done:
                    continue
                before = await db.list_tasks()
                again, new = await db.execute(done[-1])
                assert not new and await db.list_tasks() == before, "a repeated command id changes nothing"
                continue
            else:
                command = step
            request = CommandRequest(command_id=f"c{n}", actor=PERSON, command=command)
            result, new = await db.execute(request)
            assert new and (result.ok or result.error)
            done.append(request)
            await invariants(db, seen)
        async with db.conn.execute("SELECT payload FROM outbox ORDER BY seq") as cursor:
            payloads = [bytes(row[0]) for row in await cursor.fetchall()]
        rebuilt = replay(payloads)
        table = {t.id: (t.name, t.done, t.position, t.version) for t in await db.list_tasks()}
        assert rebuilt == table, json.dumps({"rebuilt": rebuilt, "table": table}, default=str)
    finally:
        await db.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=1, max_size=40))
def test_random_commands_keep_the_invariants_and_the_events_rebuild_the_table(steps: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run_steps(steps, Path(directory) / "db.sqlite3"))
