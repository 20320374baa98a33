"""The embedded model through the whole system versus called directly in one process, and how often
it turns a request into the right command."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets

from bench.common import machine_load, save
from proto.commands import TaskClearCompleted, TaskCreate, TaskDelete, TaskMove, TaskToggle
from proto.messages import TaskPublic
from services.llm_worker.backends.base import CommandOut, Prompt, Usage
from services.llm_worker.backends.embedded import EmbeddedBackend, model_path
from services.llm_worker.config import Settings
from tests.support.stack import Stack

RUNS = 8

LIST = [
    TaskPublic(id=1, name="laundry", done=False, position=0, version=1),
    TaskPublic(id=2, name="milk", done=False, position=1, version=1),
    TaskPublic(id=3, name="call the plumber", done=False, position=2, version=1),
    TaskPublic(id=4, name="eggs", done=True, position=3, version=2),
]

# (request, the right command or None for small talk)
PHRASES: list[tuple[str, object]] = [
    ("add apples", TaskCreate(name="apples")),
    ("add bananas", TaskCreate(name="bananas")),
    ("please add bread to my list", TaskCreate(name="bread")),
    ("we need coffee", TaskCreate(name="coffee")),
    ("put cheese on the list", TaskCreate(name="cheese")),
    ("add call the bank", TaskCreate(name="call the bank")),
    ("add pay rent", TaskCreate(name="pay rent")),
    ("buy oranges", TaskCreate(name="oranges")),
    ("remind me to water the plants", TaskCreate(name="water the plants")),
    ("add walk the dog", TaskCreate(name="walk the dog")),
    ("I finished the laundry", TaskToggle(id=1)),
    ("I bought the milk", TaskToggle(id=2)),
    ("milk is done", TaskToggle(id=2)),
    ("done with the laundry", TaskToggle(id=1)),
    ("I called the plumber", TaskToggle(id=3)),
    ("mark milk as done", TaskToggle(id=2)),
    ("cross off the laundry", TaskToggle(id=1)),
    ("finished calling the plumber", TaskToggle(id=3)),
    ("remove milk", TaskDelete(id=2)),
    ("delete the laundry", TaskDelete(id=1)),
    ("take milk off the list", TaskDelete(id=2)),
    ("get rid of the laundry", TaskDelete(id=1)),
    ("delete call the plumber", TaskDelete(id=3)),
    ("remove the eggs", TaskDelete(id=4)),
    ("we don't need milk anymore", TaskDelete(id=2)),
    ("clear completed tasks", TaskClearCompleted()),
    ("clear the finished ones", TaskClearCompleted()),
    ("remove everything that is done", TaskClearCompleted()),
    ("clean up the done items", TaskClearCompleted()),
    ("delete all completed tasks", TaskClearCompleted()),
    ("clear done items", TaskClearCompleted()),
    ("put milk first", TaskMove(id=2, position=0)),
    ("move the laundry to the top", TaskMove(id=1, position=0)),
    ("milk goes first", TaskMove(id=2, position=0)),
    ("put call the plumber at the top of the list", TaskMove(id=3, position=0)),
    ("move milk to the top", TaskMove(id=2, position=0)),
    ("the laundry is most important", TaskMove(id=1, position=0)),
    ("hello there", None),
    ("thanks!", None),
    ("what time is it", None),
    ("how are you", None),
    ("good morning", None),
]


def same(got: object, want: object) -> bool:
    if isinstance(want, TaskCreate) and isinstance(got, TaskCreate):
        return got.name.casefold().rstrip("s") == want.name.casefold().rstrip("s")
    return got == want


async def accuracy(backend: EmbeddedBackend) -> dict[str, Any]:
    rows = []
    for text, want in PHRASES:
        chunks = [c async for c in backend.stream(Prompt(text=text, tasks=LIST))]
        commands = [c.command for c in chunks if isinstance(c, CommandOut)]
        got = commands[0] if commands else None
        right = (got is None and want is None) or (got is not None and want is not None and same(got, want))
        shown = got.model_dump_json(exclude_none=True) if got is not None else "(none)"
        rows.append({"request": text, "expected": repr(want), "got": shown, "right": right})
    by_kind: dict[str, list[bool]] = {}
    for (_, want), row in zip(PHRASES, rows, strict=True):
        kind = type(want).__name__ if want is not None else "small talk"
        by_kind.setdefault(kind, []).append(bool(row["right"]))
    return {
        "right": sum(r["right"] for r in rows),
        "of": len(rows),
        "by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in by_kind.items()},
        "rows": rows,
    }


async def direct(backend: EmbeddedBackend, text: str) -> tuple[float, float]:
    """One request in this process: (time to the first command, the model's tokens/s)."""
    started = time.monotonic()
    seen = None
    usage = None
    async for chunk in backend.stream(Prompt(text=text, tasks=[])):
        if isinstance(chunk, CommandOut) and seen is None:
            seen = time.monotonic() - started
        if isinstance(chunk, Usage):
            usage = chunk
    assert seen is not None and usage is not None and usage.completion_tokens and usage.duration_s
    return seen, usage.completion_tokens / usage.duration_s


async def through_system(url: str, text: str) -> tuple[float, float]:
    """The same request through the gateway's WebSocket: (time to the command's TOOL_CALL_START, the
    tokens/s the worker reports in RUN_FINISHED)."""
    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "chat", "text": text}))
        seen = None
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "TOOL_CALL_START" and seen is None:
                seen = time.monotonic() - sent
            if message["type"] in ("RUN_ERROR", "error"):
                raise RuntimeError(f"the run failed: {message}")
            if message["type"] == "RUN_FINISHED":
                assert seen is not None
                return seen, float(message["result"]["tokens_per_s"])


async def measure(base: Path) -> dict[str, Any]:
    machine = machine_load()
    models = base / "models"
    model_path(models)
    stack = Stack(base / "stack", env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models)})
    stack.start(workers=1)
    backend = EmbeddedBackend(Settings(model_dir=models))
    await backend.start()
    alone: list[tuple[float, float]] = []
    system: list[tuple[float, float]] = []
    try:
        # Both warm, as a running worker is; then the same requests alternately, so both see the same
        # machine (it is shared, and the model's speed swings with whatever else runs). Each request
        # is new to both models' prompt caches.
        await through_system(stack.url, "add pears")
        await direct(backend, "add pears")
        for n in range(RUNS):
            system.append(await through_system(stack.url, f"add apples {n}"))
            alone.append(await direct(backend, f"add apples {n}"))
        stack.stop()
        judged = await accuracy(backend)
    finally:
        await backend.close()
        stack.stop()

    # Medians: one run slowed by something else on the machine moves a mean by seconds.
    def medians(pairs: list[tuple[float, float]]) -> dict[str, float]:
        return {
            "first_command_s": round(statistics.median(p[0] for p in pairs), 3),
            "tokens_per_s": round(statistics.median(p[1] for p in pairs), 2),
        }

    direct_medians, system_medians = medians(alone), medians(system)
    overheads = [(s[0] - a[0]) * 1000 for s, a in zip(system, alone, strict=True)]
    figures = {
        "runs": RUNS,
        "machine_at_start": machine,
        "direct": direct_medians,
        "through_system": system_medians,
        "tokens_per_s_ratio": round(system_medians["tokens_per_s"] / direct_medians["tokens_per_s"], 3),
        "first_command_overhead_ms": round(statistics.median(overheads), 1),
        "first_command_overhead_per_run_ms": [round(o, 1) for o in overheads],
        "accuracy": judged,
    }
    save("model", figures)
    return figures


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(measure(Path(directory)))


if __name__ == "__main__":
    result = run()
    print(json.dumps({k: v for k, v in result.items() if k != "accuracy"}, indent=2))
    print(json.dumps({k: v for k, v in result["accuracy"].items() if k != "rows"}, indent=2))
