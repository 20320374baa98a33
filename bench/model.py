"""The embedded model through the whole system versus called directly in one process, and how often
it turns a request into the right command."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import save
from proto.commands import TaskCreate, TaskDelete, TaskToggle
from proto.messages import TaskPublic
from services.llm_worker.backends.base import CommandOut, Prompt, Usage
from services.llm_worker.backends.embedded import EmbeddedBackend, model_path
from services.llm_worker.config import Settings
from tests.stack import Stack

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


async def direct(backend: EmbeddedBackend, runs: int, offset: int = 0) -> dict[str, float]:
    """The same requests as through the system (each one new to the model's prompt cache)."""
    first_command, rates = [], []
    for n in range(runs):
        started = time.monotonic()
        seen = None
        usage = None
        async for chunk in backend.stream(Prompt(text=f"add apples {offset + n}", tasks=[])):
            if isinstance(chunk, CommandOut) and seen is None:
                seen = time.monotonic() - started
            if isinstance(chunk, Usage):
                usage = chunk
        assert seen is not None and usage is not None and usage.completion_tokens and usage.duration_s
        first_command.append(seen)
        rates.append(usage.completion_tokens / usage.duration_s)
    return {"first_command_s": statistics.fmean(first_command), "tokens_per_s": statistics.fmean(rates)}


async def through_system(base: Path, models: Path, runs: int) -> dict[str, float]:
    from bench.common import chat

    stack = Stack(base, env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models)})
    stack.start(workers=1)
    first_command, rates = [], []
    try:
        await chat(stack.url, "hello")
        for n in range(runs):
            import json

            import websockets

            async with websockets.connect(stack.url.replace("http://", "ws://") + "/ws") as ws:
                sent = time.monotonic()
                await ws.send(json.dumps({"type": "chat", "text": f"add apples {n}"}))
                seen = None
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if message["type"] == "TOOL_CALL_START" and seen is None:
                        seen = time.monotonic() - sent
                    if message["type"] == "RUN_FINISHED":
                        rates.append(float(message["result"]["tokens_per_s"]))
                        break
            assert seen is not None
            first_command.append(seen)
    finally:
        stack.stop()
    return {"first_command_s": statistics.fmean(first_command), "tokens_per_s": statistics.fmean(rates)}


async def measure(base: Path) -> dict[str, Any]:
    models = base / "models"
    model_path(models)
    backend = EmbeddedBackend(Settings(LLM_MODEL_DIR=models))
    await backend.start()
    try:
        await direct(backend, 1, offset=100)  # warm, as a running worker is
        alone = await direct(backend, 5)
        judged = await accuracy(backend)
    finally:
        await backend.close()
    system = await through_system(base / "stack", models, 5)
    figures = {
        "direct": {k: round(v, 3) for k, v in alone.items()},
        "through_system": {k: round(v, 3) for k, v in system.items()},
        "tokens_per_s_ratio": round(system["tokens_per_s"] / alone["tokens_per_s"], 3),
        "first_command_overhead_ms": round((system["first_command_s"] - alone["first_command_s"]) * 1000, 1),
        "accuracy": judged,
    }
    save("model", figures)
    return figures


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(measure(Path(directory)))


if __name__ == "__main__":
    import json

    result = run()
    print(json.dumps({k: v for k, v in result.items() if k != "accuracy"}, indent=2))
    print(json.dumps({k: v for k, v in result["accuracy"].items() if k != "rows"}, indent=2))
