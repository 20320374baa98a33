"""crud on its own: commands per second and latency through NATS, for 10,000 creates and for a mixed
workload, against a real nats-server and crud process on a SQLite file."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path
from typing import Any

import nats

from bench.common import in_scratch, print_figures, save, summary_ms
from proto import subjects
from proto.codec import decode, encode
from proto.commands import (
    MAX_TASKS,
    AnyCommand,
    TaskClearCompleted,
    TaskCreate,
    TaskDelete,
    TaskMove,
    TaskRename,
    TaskSetDone,
    TaskToggle,
    Undo,
)
from proto.messages import PERSON, CommandRequest, CommandResult, ListRequest, TaskList
from tests.support.natsd import NatsServer
from tests.support.stack import Stack

IN_FLIGHT = 32


async def send(nc: nats.NATS, command: AnyCommand, command_id: str | None = None) -> tuple[float, CommandResult]:
    request = CommandRequest(command_id=command_id or uuid.uuid4().hex, actor=PERSON, command=command)
    started = time.perf_counter()
    reply = await nc.request(subjects.crud_command("task", command.op), encode(request), timeout=30)
    return time.perf_counter() - started, decode(CommandResult, reply.data)


async def creates(nc: nats.NATS, total: int) -> dict[str, Any]:
    """`total` creates, IN_FLIGHT at a time. The list holds at most MAX_TASKS, so every MAX_TASKS creates
    the list is emptied (set done + clear completed, not timed)."""
    latencies: list[float] = []
    busy = 0.0
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with gate:
            took, result = await send(nc, TaskCreate(name=f"task {n}"))
            assert result.ok, result.error
            latencies.append(took)

    for start in range(0, total, MAX_TASKS):
        batch = min(MAX_TASKS, total - start)
        began = time.perf_counter()
        await asyncio.gather(*(one(start + n) for n in range(batch)))
        busy += time.perf_counter() - began
        tasks = decode(TaskList, (await nc.request(subjects.TASK_LIST, encode(ListRequest()), timeout=30)).data).tasks
        for task in tasks:
            await send(nc, TaskSetDone(id=task.id))
        await send(nc, TaskClearCompleted())
    return {"commands": total, "commands_per_s": round(total / busy, 1), "latency": summary_ms(latencies)}


async def mixed(nc: nats.NATS, total: int) -> dict[str, Any]:
    """Creates, renames, toggles, moves, deletes and undos in random order on a list of about 200."""
    rng = random.Random(7)
    ids: list[int] = []
    done_commands: list[str] = []
    for n in range(200):
        _, result = await send(nc, TaskCreate(name=f"seed {n}"))
        assert result.task
        ids.append(result.task.id)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    began = time.perf_counter()
    for n in range(total):
        kind = rng.choice(["create", "rename", "toggle", "move", "delete", "undo"])
        command: AnyCommand
        if kind == "create" or not ids:
            command = TaskCreate(name=f"new {n}")
        elif kind == "rename":
            command = TaskRename(id=rng.choice(ids), new_name=f"renamed {n}")
        elif kind == "toggle":
            command = TaskToggle(id=rng.choice(ids))
        elif kind == "move":
            command = TaskMove(id=rng.choice(ids), position=rng.randrange(0, 200))
        elif kind == "delete":
            command = TaskDelete(id=ids.pop(rng.randrange(len(ids))))
        else:
            command = Undo(command_id=rng.choice(done_commands)) if done_commands else TaskCreate(name=f"u {n}")
        command_id = uuid.uuid4().hex
        took, result = await send(nc, command, command_id)
        latencies.append(took)
        key = "ok" if result.ok else (result.error.code if result.error else "?")
        outcomes[key] = outcomes.get(key, 0) + 1
        if result.ok:
            done_commands.append(command_id)
            if result.task and command.op == "create":
                ids.append(result.task.id)
    busy = time.perf_counter() - began
    return {
        "commands": total,
        "commands_per_s": round(total / busy, 1),
        "latency": summary_ms(latencies),
        "outcomes": outcomes,
        "note": "one at a time (each waits for its reply); undos of changed tasks are refused as conflicts",
    }


async def measure(base: Path) -> dict[str, Any]:
    stack = Stack(base)
    stack.nats = NatsServer(base / "nats")
    stack.nats.start()
    try:
        stack.spawn("crud", "services.crud").wait_for_line("crud ready", 30)
        nc = await nats.connect(stack.nats.url)
        try:
            figures = {"creates": await creates(nc, 10_000), "mixed": await mixed(nc, 2_000)}
        finally:
            await nc.close()
    finally:
        stack.stop()
    save("crud", figures)
    return figures


def run() -> dict[str, Any]:
    return in_scratch(measure)


if __name__ == "__main__":
    print_figures(run())
