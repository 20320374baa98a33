"""Concurrent chats through one gateway and two workers, and runs per second as workers are added."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RunTrace, chat, plot_bars, plot_latencies, process_usage, save, summary_ms
from tests.stack import Stack

TOKENS = 50
RATE = 50.0


def check(traces: list[RunTrace], tokens: int) -> dict[str, int]:
    """Lost and reordered tokens: each token is its emit time, so a run's tokens must rise."""
    lost = sum(max(0, tokens - len(t.arrivals)) for t in traces)
    reordered = sum(sum(1 for a, b in zip(t.arrivals, t.arrivals[1:], strict=False) if b[0] < a[0]) for t in traces)
    failed = sum(1 for t in traces if t.finished is None)
    return {"lost": lost, "reordered": reordered, "failed_runs": failed}


async def concurrent(base: Path, runs: int) -> dict[str, Any]:
    env = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": str(TOKENS), "LLM_SCRIPT_RATE": str(RATE)}
    stack = Stack(base, env=env | {"LLM_CAPACITY": str(runs), "GATEWAY_CHAT_PER_MINUTE": "1000"})
    stack.start(workers=2)
    try:
        await chat(stack.url, "warm up")
        pids = {s.name: s.proc.pid for s in stack.services if s.name != "crud"}
        before = {name: process_usage(pid) for name, pid in pids.items()}
        started = time.monotonic()
        traces = await asyncio.gather(*(chat(stack.url, "go", timeout_s=300) for _ in range(runs)))
        elapsed = time.monotonic() - started
        after = {name: process_usage(pid) for name, pid in pids.items()}
    finally:
        stack.stop()
    latencies = [lat for t in traces for lat in t.latencies]
    usage = {
        name: {
            "cpu_percent_of_one_core": round((after[name]["cpu_s"] - before[name]["cpu_s"]) / elapsed * 100, 1),
            "rss_mb": after[name]["rss_mb"],
        }
        for name in pids
    }
    return {
        "runs": runs,
        "tokens_per_run": TOKENS,
        "rate_per_run": RATE,
        "wall_s": round(elapsed, 2),
        "added_latency": summary_ms(latencies),
        **check(traces, TOKENS),
        "processes": usage,
        "_latencies": latencies,
    }


async def scaling(base: Path, workers: int, runs: int = 24) -> float:
    env = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "20", "LLM_SCRIPT_RATE": "100", "LLM_CAPACITY": "1"}
    stack = Stack(base, env=env | {"GATEWAY_CHAT_PER_MINUTE": "1000"})
    stack.start(workers=workers)
    try:
        await chat(stack.url, "warm up")
        started = time.monotonic()
        traces = await asyncio.gather(*(chat(stack.url, "go", timeout_s=300) for _ in range(runs)))
        elapsed = time.monotonic() - started
        assert all(t.finished is not None for t in traces)
    finally:
        stack.stop()
    return runs / elapsed


async def measure(base: Path, sizes: tuple[int, ...]) -> dict[str, Any]:
    figures: dict[str, Any] = {"concurrent": {}, "scaling": {}}
    series = {}
    for runs in sizes:
        result = await concurrent(base / f"c{runs}", runs)
        series[f"{runs} concurrent runs"] = result.pop("_latencies")
        figures["concurrent"][str(runs)] = result
    plot_latencies("concurrent", series, f"Added latency per token, {TOKENS} tokens at {RATE:.0f} tok/s per run")
    rates = {}
    for workers in (1, 2, 4):
        rates[workers] = await scaling(base / f"s{workers}", workers)
    figures["scaling"] = {
        "runs_per_s": {str(k): round(v, 2) for k, v in rates.items()},
        "speedup_1_to_4": round(rates[4] / rates[1], 2),
        "run": "20 tokens at 100 tok/s (0.2 s of generation), one run at a time per worker, 24 runs",
    }
    plot_bars(
        "scaling",
        [f"{w} worker{'s' if w > 1 else ''}" for w in rates],
        list(rates.values()),
        "runs / s",
        "Worker scaling",
    )
    save("load", figures)
    return figures


def run(sizes: tuple[int, ...] = (200, 1000)) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(measure(Path(directory), sizes))


if __name__ == "__main__":
    import json
    import sys

    chosen = tuple(int(a) for a in sys.argv[1:]) or (200, 1000)
    print(json.dumps(run(chosen), indent=2))
