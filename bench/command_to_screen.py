"""Command to screen: from the worker having a complete command to its change reaching a browser's
SSE stream, through crud (the transaction, the outbox relay) and the gateway."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import chat, in_scratch, machine_load, plot_latencies, print_figures, save, summary_ms
from tests.support.stack import Stack

COMMANDS_PER_RUN = 5
RUNS = 20
STAMP = re.compile(r"cmd (\d+\.\d+)")


async def listen(url: str, want: int, seen: list[float], ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        async with client.stream("GET", "/events", headers={"Accept": "text/event-stream"}) as response:
            ready.set()
            async for line in response.aiter_lines():
                if line.startswith("data:") and 'data-kind="created"' in line:
                    found = STAMP.search(line)
                    if found:
                        seen.append(time.time() - float(found.group(1)))
                        if len(seen) >= want:
                            return


async def measure(base: Path) -> dict[str, Any]:
    env = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "1", "LLM_SCRIPT_COMMANDS": str(COMMANDS_PER_RUN)}
    machine = machine_load()
    stack = Stack(base, env=env)
    stack.start(workers=1)
    try:
        await chat(stack.url, "warm up")
        seen: list[float] = []
        ready = asyncio.Event()
        listener = asyncio.create_task(listen(stack.url, COMMANDS_PER_RUN * RUNS, seen, ready))
        await ready.wait()
        for _ in range(RUNS):
            trace = await chat(stack.url, "go")
            assert trace.command_results == COMMANDS_PER_RUN, trace.error
        await asyncio.wait_for(listener, 30)
    finally:
        stack.stop()
    figures = {"machine_at_start": machine, "command_to_sse": summary_ms(seen), "commands": len(seen)}
    plot_latencies("command_to_screen", {"command → SSE event": seen}, "Command to screen")
    save("command_to_screen", figures)
    return figures


def run() -> dict[str, Any]:
    return in_scratch(measure)


if __name__ == "__main__":
    print_figures(run())
