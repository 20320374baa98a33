"""crud on its own: commands per second and latency through NATS, for 10,000 creates and for a mixed
workload, against a real nats-server and crud process on a SQLite file."""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats

from bench.common import in_scratch, print_figures, process_usage, save, summary_ms
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
from proto.messages import (
    PERSON,
    AuditRequest,
    ChatMessage,
    CommandRequest,
    CommandResult,
    ConversationRequest,
    ListRequest,
    TaskList,
    TurnBegin,
)
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


REQUESTS = 2_000


async def cost_per_request(nc: nats.NATS, pid: int) -> dict[str, Any]:
    """crud's CPU per request of each kind a chat run makes, REQUESTS of each, IN_FLIGHT at a time, on a
    list of 50 tasks with 50 audit entries and conversations of 20 messages; and what a run's start and
    end cost crud: the four requests a run used to make (list, conversation, changes, the person's message)
    and the reply stored, against one `begin` and the reply."""
    for n in range(50):
        await send(nc, TaskCreate(name=f"seed {n}"))
    threads = [f"t{n}" for n in range(50)]
    for thread in threads:
        for n in range(20):
            said = ChatMessage(message_id=f"{thread}-{n}", thread_id=thread, role="user", text=f"message {n}")
            await nc.request(subjects.CONVERSATION_APPEND, encode(said), timeout=30)

    def message(n: int, role: str = "u") -> bytes:
        kind = "user" if role == "u" else "assistant"
        said = ChatMessage(message_id=f"m{n}-{role}", thread_id=threads[n % 50], role=kind, text="add milk")  # type: ignore[arg-type]
        return encode(said)

    kinds: dict[str, tuple[str, Callable[[int], bytes]]] = {
        "list": (subjects.TASK_LIST, lambda n: encode(ListRequest())),
        "conversation": (
            subjects.CONVERSATION_RECENT,
            lambda n: encode(ConversationRequest(thread_id=threads[n % 50])),
        ),
        "changes": (subjects.AUDIT_LIST, lambda n: encode(AuditRequest(limit=50))),
        "append": (subjects.CONVERSATION_APPEND, lambda n: message(n)),
        "append_reply": (subjects.CONVERSATION_APPEND, lambda n: message(n, "a")),
        "begin": (
            subjects.CONVERSATION_BEGIN,
            lambda n: encode(
                TurnBegin(message=decode(ChatMessage, message(n + REQUESTS)), changes_since=time.time() - 3600)
            ),
        ),
    }
    spent: dict[str, float] = {}
    gate = asyncio.Semaphore(IN_FLIGHT)
    for kind, (subject, body) in kinds.items():

        async def one(n: int, subject: str = subject, body: Callable[[int], bytes] = body) -> None:
            async with gate:
                reply = await nc.request(subject, body(n), timeout=30)
                assert not (reply.headers or {}).get("Nats-Service-Error"), reply.headers

        before = process_usage(pid)["cpu_s"]
        await asyncio.gather(*(one(n) for n in range(REQUESTS)))
        spent[kind] = (process_usage(pid)["cpu_s"] - before) / REQUESTS * 1e6
    old = sum(spent[k] for k in ("list", "conversation", "changes", "append", "append_reply"))
    new = spent["begin"] + spent["append_reply"]
    return {
        "cpu_us_per_request": {k: round(v) for k, v in spent.items()},
        "run_start_and_end_us": {"four_requests_and_reply": round(old), "begin_and_reply": round(new)},
    }


async def measure(base: Path, only_requests: bool = False) -> dict[str, Any]:
    stack = Stack(base)
    stack.nats = NatsServer(base / "nats")
    stack.nats.start()
    try:
        crud = stack.spawn("crud", "services.crud")
        crud.wait_for_line("crud ready", 30)
        nc = await nats.connect(stack.nats.url)
        try:
            figures = {} if only_requests else {"creates": await creates(nc, 10_000), "mixed": await mixed(nc, 2_000)}
            await send(nc, TaskClearCompleted())
            figures["requests"] = await cost_per_request(nc, crud.proc.pid)
        finally:
            await nc.close()
    finally:
        stack.stop()
    if not only_requests:
        save("crud", figures)
    return figures


def run() -> dict[str, Any]:
    return in_scratch(measure)


if __name__ == "__main__":
    # `python -m bench.crud requests`: only the CPU per request (printed, not saved).
    if sys.argv[1:] == ["requests"]:
        print_figures(in_scratch(lambda base: measure(base, only_requests=True)))
    else:
        print_figures(run())
