"""Relay overhead: every token timestamped by the backend as it is emitted, compared with its arrival
at a WebSocket client through the worker, NATS and the gateway; and the same backend read directly."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import chat, plot_latencies, save, summary_ms
from services.llm_worker.backends.base import Prompt, TextDelta
from services.llm_worker.backends.scripted import ScriptedBackend
from services.llm_worker.config import Settings
from tests.stack import Stack

# (label, tokens/s (0: as fast as possible), tokens per run)
RATES = (("20 tok/s", 20.0, 100), ("100 tok/s", 100.0, 300), ("max", 0.0, 3000))
RUNS = 3


async def direct(rate: float, tokens: int) -> dict[str, float]:
    """The backend read in-process: the baseline rate and time to first token."""
    backend = ScriptedBackend(Settings(LLM_SCRIPT_RATE=rate, LLM_SCRIPT_TOKENS=tokens))
    started = time.time()
    arrivals = []
    async for chunk in backend.stream(Prompt(text="go", tasks=[])):
        if isinstance(chunk, TextDelta):
            arrivals.append(time.time())
    span = arrivals[-1] - arrivals[0]
    return {"tokens_per_s": (len(arrivals) - 1) / span if span else float("inf"), "ttft_s": arrivals[0] - started}


async def measure(base: Path) -> dict[str, Any]:
    stack = Stack(base, env={"LLM_BACKEND": "scripted"})
    stack.start(workers=0)
    figures: dict[str, Any] = {}
    series: dict[str, list[float]] = {}
    try:
        for label, rate, tokens in RATES:
            worker = stack.spawn(
                f"worker-{label.split()[0]}",
                "services.llm_worker",
                {"LLM_SCRIPT_RATE": str(rate), "LLM_SCRIPT_TOKENS": str(tokens)},
            )
            await asyncio.to_thread(worker.wait_for_line, "llm_worker ready", 60)
            await chat(stack.url, "warm up")
            latencies: list[float] = []
            ttft: list[float] = []
            rates: list[float] = []
            for _ in range(RUNS):
                trace = await chat(stack.url, "go")
                assert trace.finished is not None and len(trace.arrivals) == tokens, trace.error
                latencies += trace.latencies
                ttft.append(trace.arrivals[0][1] - trace.sent_at)
                span = trace.arrivals[-1][1] - trace.arrivals[0][1]
                rates.append((tokens - 1) / span)
            baseline = [await direct(rate, tokens) for _ in range(RUNS)]
            direct_rate = statistics.fmean(b["tokens_per_s"] for b in baseline)
            direct_ttft = statistics.fmean(b["ttft_s"] for b in baseline)
            worker.stop()
            series[label] = latencies
            figures[label] = {
                "added_latency": summary_ms(latencies),
                "ttft_through_system_ms": round(statistics.fmean(ttft) * 1000, 2),
                "ttft_overhead_ms": round((statistics.fmean(ttft) - direct_ttft) * 1000, 2),
                "tokens_per_s_through_system": round(statistics.fmean(rates), 1),
                "tokens_per_s_direct": round(direct_rate, 1),
                "throughput_ratio": round(statistics.fmean(rates) / direct_rate, 4),
                "tokens": tokens * RUNS,
            }
    finally:
        stack.stop()
    plot_latencies("relay", series, "Added latency per token: backend → worker → NATS → gateway → WebSocket")
    save("relay", figures)
    return figures


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(measure(Path(directory)))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
