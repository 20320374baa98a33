"""Relay overhead: every token timestamped by the backend as it is emitted, compared with its arrival
at a WebSocket client through the worker, NATS and the gateway; and the same backend read directly.

A plain NATS subscriber on the run events (a tap) splits each token's latency in two: backend → worker
→ NATS, and NATS → gateway (JetStream consumer) → WebSocket → client. The as-fast-as-possible runs
are profiled (py-spy), since there the per-token CPU cost of each process is all there is."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg

from bench.common import chat, in_scratch, machine_load, plot_latencies, save, summary_ms
from bench.profile import Profile
from proto import subjects
from services.llm_worker.backends.base import Prompt, TextDelta
from services.llm_worker.backends.scripted import ScriptedBackend
from services.llm_worker.config import Settings
from tests.support.stack import Stack

# (label, tokens/s (0: as fast as possible), tokens per run)
RATES = (("20 tok/s", 20.0, 100), ("100 tok/s", 100.0, 300), ("max", 0.0, 10000))
RUNS = 3


async def direct(rate: float, tokens: int) -> dict[str, float]:
    """The backend read in-process: the baseline rate and time to first token."""
    backend = ScriptedBackend(Settings(script_rate=rate, script_tokens=tokens))
    started = time.time()
    arrivals = []
    async for chunk in backend.stream(Prompt(text="go", tasks=[])):
        if isinstance(chunk, TextDelta):
            arrivals.append(time.time())
    span = arrivals[-1] - arrivals[0]
    return {"tokens_per_s": (len(arrivals) - 1) / span if span else float("inf"), "ttft_s": arrivals[0] - started}


class Tap:
    """Each token's arrival at a plain NATS subscriber, by its stamp (every stamp is unique)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}

    async def on_event(self, msg: Msg) -> None:
        arrived = time.time()
        event = json.loads(msg.data)
        if event.get("type") == "TEXT_MESSAGE_CONTENT":
            for token in event["delta"].split():
                self.arrived[token] = arrived

    def split(self, pairs: list[tuple[float, float]], tokens: list[str]) -> tuple[list[float], list[float]]:
        """(emitted → NATS, NATS → client) for each token the tap saw."""
        to_nats, to_client = [], []
        for (emitted, arrived), token in zip(pairs, tokens, strict=True):
            at_nats = self.arrived.get(token)
            if at_nats is not None:
                to_nats.append(at_nats - emitted)
                to_client.append(arrived - at_nats)
        return to_nats, to_client


async def measure(base: Path) -> dict[str, Any]:
    stack = Stack(base, env={"LLM_BACKEND": "scripted"})
    stack.start(workers=0)
    figures: dict[str, Any] = {"machine_at_start": machine_load()}
    series: dict[str, list[float]] = {}
    assert stack.nats is not None
    nc = await nats.connect(stack.nats.url)
    tap = Tap()
    gateway = next(s for s in stack.services if s.name == "gateway")
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
            to_nats: list[float] = []
            to_client: list[float] = []
            ttft: list[float] = []
            rates: list[float] = []
            # Not as fast as possible: there the tap would compete with the client for the same process.
            listening = await nc.subscribe(subjects.RUN_EVENTS_ALL, cb=tap.on_event) if rate else None
            profile = Profile("relay_max", {"gateway": gateway.proc.pid, "llm_worker": worker.proc.pid})
            with profile if rate == 0 else contextlib.nullcontext():
                for _ in range(RUNS):
                    trace = await chat(stack.url, "go")
                    assert trace.finished is not None and len(trace.arrivals) == tokens, trace.error
                    latencies += trace.latencies
                    hop_nats, hop_client = tap.split(trace.arrivals, trace.tokens)
                    to_nats += hop_nats
                    to_client += hop_client
                    ttft.append(trace.arrivals[0][1] - trace.sent_at)
                    span = trace.arrivals[-1][1] - trace.arrivals[0][1]
                    rates.append((tokens - 1) / span)
            if listening is not None:
                await listening.unsubscribe()
            tap.arrived.clear()
            baseline = [await direct(rate, tokens) for _ in range(RUNS)]
            direct_rate = statistics.fmean(b["tokens_per_s"] for b in baseline)
            direct_ttft = statistics.fmean(b["ttft_s"] for b in baseline)
            worker.stop()
            series[label] = latencies
            figures[label] = {
                "added_latency": summary_ms(latencies),
                "backend_to_nats": summary_ms(to_nats),
                "nats_to_websocket_client": summary_ms(to_client),
                "ttft_through_system_ms": round(statistics.fmean(ttft) * 1000, 2),
                "ttft_overhead_ms": round((statistics.fmean(ttft) - direct_ttft) * 1000, 2),
                "tokens_per_s_through_system": round(statistics.fmean(rates), 1),
                "tokens_per_s_direct": round(direct_rate, 1),
                "throughput_ratio": round(statistics.fmean(rates) / direct_rate, 4),
                "tokens": tokens * RUNS,
            }
            if rate == 0:
                figures[label]["profile"] = profile.result
    finally:
        await nc.close()
        stack.stop()
    plot_latencies("relay", series, "Added latency per token: backend → worker → NATS → gateway → WebSocket")
    save("relay", figures)
    return figures


def run() -> dict[str, Any]:
    return in_scratch(measure)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
