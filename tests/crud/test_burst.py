"""10,000 commands in one burst, most of them wrong: every one gets a reply that says what happened,
and the table and the event stream stay consistent."""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client

from proto import subjects
from proto.codec import decode, encode
from proto.commands import MAX_TASKS, TaskCreate, TaskToggle
from proto.messages import PERSON, CommandRequest, CommandResult
from services.crud.service import Crud


async def test_ten_thousand_commands_each_get_a_clear_reply(nc: Client, crud: Crud) -> None:
    create = subjects.crud_command("task", "create")
    toggle = subjects.crud_command("task", "toggle")
    requests: list[tuple[str, bytes]] = []
    for n in range(10_000):
        kind = n % 5
        if kind in (0, 1):
            body = encode(CommandRequest(command_id=f"c{n}", actor=PERSON, command=TaskCreate(name=f"task {n}")))
            requests.append((create, body))
        elif kind == 2:
            requests.append((create, b"\x00garbage" + str(n).encode()))
        elif kind == 3:
            requests.append((create, json.dumps({"command_id": f"x{n}", "command": {"op": "create"}}).encode()))
        else:
            body = encode(CommandRequest(command_id=f"t{n}", actor=PERSON, command=TaskToggle(id=50_000 + n)))
            requests.append((toggle, body))
    semaphore = asyncio.Semaphore(500)

    async def one(subject: str, body: bytes) -> CommandResult:
        async with semaphore:
            reply = await nc.request(subject, body, timeout=30)
        return decode(CommandResult, reply.data)

    results = await asyncio.gather(*(one(s, b) for s, b in requests))
    counts: dict[str, int] = {}
    for result in results:
        key = "ok" if result.ok else (result.error.code if result.error else "?")
        counts[key] = counts.get(key, 0) + 1
    assert counts == {"ok": MAX_TASKS, "invalid": 10_000 - MAX_TASKS - 2_000, "not_found": 2_000}
    full = [r for r in results if r.error and "list is full" in r.error.message]
    assert len(full) == 4_000 - MAX_TASKS
    tasks = await crud.db.list_tasks()
    assert [t.position for t in tasks] == list(range(MAX_TASKS))
    assert await crud.relay.flush(timeout_s=60)
    assert (await nc.jetstream().stream_info(subjects.UI_STREAM)).state.messages == MAX_TASKS
