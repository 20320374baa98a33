"""What every benchmark shares: the stack as processes, a chat client that timestamps arrivals,
percentiles, process CPU and memory from /proc, and writing figures and plots."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from tests.support.stack import Stack

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "max_ms": round(max(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


@dataclass
class RunTrace:
    """One chat run as a client saw it."""

    sent_at: float
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (emitted, arrived), wall clock
    tokens: list[str] = field(default_factory=list)
    finished: dict[str, Any] | None = None
    error: str | None = None
    command_results: int = 0
    notices: list[str] = field(default_factory=list)  # errors said about the run while it was still coming
    frames: int = 0  # TEXT_MESSAGE_CONTENT frames received (fewer than tokens when deltas were merged)
    started: float | None = None  # when RUN_STARTED arrived (a worker took the run)

    @property
    def latencies(self) -> list[float]:
        return [arrived - emitted for emitted, arrived in self.arrivals]


def open_page(url: str) -> Any:
    """The chat socket a page opens when it loads (`async with open_page(url) as ws:`)."""
    return websockets.connect(url.replace("http://", "ws://") + "/ws", max_size=None)


async def chat(url: str, text: str, timeout_s: float = 120.0) -> RunTrace:
    """Open the chat socket, send one chat message and record every token's arrival."""
    async with open_page(url) as ws:
        return await chat_on(ws, text, timeout_s)


async def chat_on(ws: Any, text: str, timeout_s: float = 120.0) -> RunTrace:
    """Send one chat message on an open chat socket and record every token's arrival."""
    trace = RunTrace(sent_at=time.time())
    await ws.send(json.dumps({"type": "chat", "text": text}))
    async with asyncio.timeout(timeout_s):
        while True:
            frame = json.loads(await ws.recv())
            arrived = time.time()
            # Under load, events due at once come in one frame, an array of them (as the page reads them).
            for message in frame if isinstance(frame, list) else (frame,):
                if took(trace, message, arrived):
                    return trace


def took(trace: RunTrace, message: dict[str, Any], arrived: float) -> bool:
    """One message of the run into its trace; True once the run has ended."""
    kind = message.get("type")
    if kind == "TEXT_MESSAGE_CONTENT":
        trace.frames += 1
        # Under load a worker merges the deltas waiting behind one in flight: a frame may hold
        # several scripted tokens ("<stamp> <stamp> "), each counted and timed on its own.
        for token in message["delta"].split():
            trace.tokens.append(token)
            try:
                trace.arrivals.append((float(token), arrived))
            except ValueError:
                pass
    elif kind == "RUN_STARTED" and trace.started is None:
        trace.started = arrived
    elif kind == "TOOL_CALL_RESULT":
        trace.command_results += 1
    elif kind == "RUN_FINISHED":
        trace.finished = message.get("result") or {}
        return True
    elif kind == "error" and message.get("runId"):
        # Said while the run waits for a worker ("no worker is running" when none answered the
        # gateway's ping in time); the gateway keeps relaying, so the run may still come.
        trace.notices.append(message.get("message", ""))
    elif kind in ("RUN_ERROR", "error"):
        # Refused or failed: the run counts as failed (the person was told, nothing hangs).
        trace.error = message.get("message")
        return True
    return False


def start_stack(base: Path, workers: int, env: dict[str, str], worker_env: dict[str, str] | None = None) -> Stack:
    stack = Stack(base, env=env)
    stack.start(workers=workers, worker_env=worker_env)
    return stack


def process_usage(pid: int) -> dict[str, float]:
    """CPU seconds used so far and resident memory, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"cpu_s": round(cpu_s, 3), "rss_mb": round(rss_kb / 1024, 1)}


def service_pids(stack: Stack) -> dict[str, int]:
    """The Python process of each service (Popen runs python directly)."""
    return {service.name: service.proc.pid for service in stack.services}


def machine_load() -> dict[str, float]:
    """How busy the (shared) machine was: the 1-minute load average against the number of cores."""
    return {"load_avg_1m": round(os.getloadavg()[0], 2), "cores": float(os.cpu_count() or 0)}


def save(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path


def plot_latencies(
    name: str,
    series: Mapping[str, Sequence[float]],
    title: str,
    xlabel: str = "added latency per token (ms, log scale)",
    ylabel: str = "fraction of tokens",
    target_ms: tuple[float, str] | None = None,
) -> Path:
    """A CDF of latencies (ms) for each series; by default per-token added latency. `target_ms` draws
    a target as a dotted line, with its label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values_s in series.items():
        ms = sorted(v * 1000 for v in values_s)
        if ms:
            ax.plot(ms, [i / len(ms) for i in range(1, len(ms) + 1)], label=label)
    if target_ms is not None:
        ax.axvline(target_ms[0], color="grey", linestyle=":", label=target_ms[1])
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bars(name: str, labels: Sequence[str], values: Sequence[float], ylabel: str, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(list(labels), list(values), color="#4f46e5")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.annotate(f"{v:.2f}", (i, v), ha="center", va="bottom")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def in_scratch(measure: Callable[[Path], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """A benchmark's figures, measured in a scratch directory removed afterwards."""
    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(measure(Path(directory)))


def print_figures(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, indent=2))
