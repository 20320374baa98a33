"""Concurrent chats through one gateway and two workers, and runs per second as workers are added.

Concurrency: one stack (two workers that take every run offered), then 50 → 1,000 simultaneous runs of
50 tokens at 50 tokens/s each, every run its own WebSocket client in this process: all the pages are open
(their chat sockets connected, the cost of that measured apart), then all send at once. Each token is its
emit time, so a lost or reordered token shows. The CPU and memory of every process, the client's
included, since it shares the two cores with the services; the 1,000-run step is profiled.

Scaling: workers that take one run at a time (LLM_CAPACITY=1), 1, 2 and 4 of them, first with the
scripted backend (the model elsewhere: a worker mostly waits, as it does on Ollama or a cloud API),
then with the embedded model (the model is CPU work in the worker itself)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    RunTrace,
    chat,
    chat_on,
    in_scratch,
    machine_load,
    open_page,
    plot_latencies,
    print_figures,
    process_usage,
    save,
    summary_ms,
)
from bench.profile import Profile
from tests.support.stack import Stack

TOKENS = 50
RATE = 50.0
SIZES = (50, 100, 200, 500, 1000)
PROFILED = int(os.environ.get("BENCH_PROFILED", "1000"))  # the step profiled (py-spy)
SCALING_WORKERS = (1, 2, 4)
LONG_TOKENS = 200  # the longer answers of the cost split
SPLIT_RUNS = 500
GATEWAY_WARNING = re.compile(r"WARNING .*?(could not \w+: [^\n]{0,80})")


def check(traces: list[RunTrace | BaseException], tokens: int) -> dict[str, Any]:
    """Lost and reordered tokens (a run's tokens are its emit times, so they must rise), failed runs and why."""
    done = [t for t in traces if isinstance(t, RunTrace)]
    failed = Counter(repr(t)[:120] for t in traces if isinstance(t, BaseException))
    failed.update(t.error or "no RUN_FINISHED" for t in done if t.finished is None)
    lost = sum(max(0, tokens - len(t.arrivals)) for t in done if t.finished is not None)
    reordered = sum(sum(1 for a, b in zip(t.arrivals, t.arrivals[1:], strict=False) if b[0] < a[0]) for t in done)
    told = Counter(notice for t in done for notice in t.notices)
    return {
        "lost": lost,
        "reordered": reordered,
        "failed_runs": sum(failed.values()),
        "failures": dict(failed),
        "runs_told_an_error_that_then_finished": sum(1 for t in done if t.notices and t.finished is not None),
        "notices": dict(told),
    }


def streaming_at_once(traces: list[RunTrace]) -> int:
    """The most runs whose answers were coming in at the same moment (first token to last, as received)."""
    edges = sorted(edge for t in traces if t.arrivals for edge in ((t.arrivals[0][1], 1), (t.arrivals[-1][1], -1)))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def usage(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], wall_s: float) -> dict[str, Any]:
    return {
        name: {
            "cpu_percent_of_one_core": round((after[name]["cpu_s"] - before[name]["cpu_s"]) / wall_s * 100, 1),
            "rss_mb": after[name]["rss_mb"],
        }
        for name in after
    }


def cpu_per_token(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], tokens: int
) -> dict[str, Any]:
    """CPU time each process spent per token delivered (connections and runs included): what a quiet machine's
    cores divide by to give the most tokens per second these processes can move."""
    spent = {name: (after[name]["cpu_s"] - before[name]["cpu_s"]) / max(tokens, 1) * 1e6 for name in after}
    return {name: round(us) for name, us in spent.items()} | {"all": round(sum(spent.values()))}


async def concurrent(stack: Stack, runs: int, tokens: int = TOKENS) -> dict[str, Any]:
    assert stack.nats is not None and stack.nats.proc is not None
    pids = {s.name: s.proc.pid for s in stack.services}
    pids |= {"nats-server": stack.nats.proc.pid, "client (this process)": os.getpid()}
    async with contextlib.AsyncExitStack() as pages:
        # The people's pages are open (each page opens its chat socket when it loads), then all of them send
        # a message at once: the time and CPU from there on are the answers'; opening the pages is apart.
        opening = {name: process_usage(pid) for name, pid in pids.items()}
        sockets = await asyncio.gather(*(pages.enter_async_context(open_page(stack.url)) for _ in range(runs)))
        before = {name: process_usage(pid) for name, pid in pids.items()}
        profile = Profile(f"concurrent_{runs}", {k: v for k, v in pids.items() if k != "nats-server"})
        started = time.monotonic()
        with profile if runs == PROFILED else contextlib.nullcontext():
            traces = await asyncio.gather(*(chat_on(ws, "go", timeout_s=120) for ws in sockets), return_exceptions=True)
        wall = time.monotonic() - started
        after = {name: process_usage(pid) for name, pid in pids.items()}
    done = [t for t in traces if isinstance(t, RunTrace)]
    latencies = [lat for t in done for lat in t.latencies]
    result: dict[str, Any] = {
        "runs": runs,
        "wall_s": round(wall, 2),
        "tokens_per_s_offered": runs * RATE,
        "tokens_per_s_delivered": round(sum(len(t.arrivals) for t in done) / wall, 1),
        "added_latency": summary_ms(latencies),
        # From the message sent to its first token: how long a person waits to see the answer begin.
        "first_token": summary_ms([t.arrivals[0][1] - t.sent_at for t in done if t.arrivals]),
        "run_started": summary_ms([t.started - t.sent_at for t in done if t.started is not None]),
        "streaming_at_once_max": streaming_at_once(done),
        "frames_per_token": round(sum(t.frames for t in done) / max(1, sum(len(t.arrivals) for t in done)), 3),
        **check(list(traces), tokens),
        "processes": usage(before, after, wall),
        "cpu_s": {name: round(after[name]["cpu_s"] - before[name]["cpu_s"], 3) for name in after},
        "tokens_delivered": sum(len(t.arrivals) for t in done),
        "runs_done": len(done),
        "cpu_us_per_token": cpu_per_token(before, after, sum(len(t.arrivals) for t in done)),
        # What opening one page's chat socket cost each process (before the messages were sent).
        "cpu_us_per_page_opened": cpu_per_token(opening, before, runs),
        "_latencies": latencies,
    }
    if runs == PROFILED:
        result["profile"] = profile.result
    return result


async def concurrency(base: Path, sizes: tuple[int, ...] = SIZES, tokens: int = TOKENS) -> dict[str, Any]:
    """Each size on a fresh stack, so one step's leftovers (consumers, history writes) do not load the next."""
    env = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": str(tokens), "LLM_SCRIPT_RATE": str(RATE)}
    # Every client comes from one address: the limit leaves room for the largest step and its warm-up run.
    env |= {"LLM_CAPACITY": str(max(SIZES)), "GATEWAY_CHAT_PER_MINUTE": str(2 * max(SIZES))}
    results: dict[str, Any] = {}
    for runs in sizes:
        stack = Stack(base / str(runs), env=env)
        stack.start(workers=2)
        try:
            await chat(stack.url, "warm up")
            results[str(runs)] = await concurrent(stack, runs, tokens)
            gateway = next(s for s in stack.services if s.name == "gateway")
            results[str(runs)]["gateway_warnings"] = dict(Counter(GATEWAY_WARNING.findall(gateway.output())))
        finally:
            stack.stop()
    return results


async def cost_split(base: Path, runs: int = SPLIT_RUNS) -> dict[str, Any]:
    """What a token costs and what a run costs, each process apart: the same number of runs at once, once with
    TOKENS tokens each and once with LONG_TOKENS, at the same rate. Two equations, CPU = runs × per run +
    tokens × per token, give both. The figure per delivered token of one step mixes them, and with short
    answers it is mostly the runs' cost."""
    steps = {}
    for tokens in (TOKENS, LONG_TOKENS):
        step = (await concurrency(base / f"split{tokens}", (runs,), tokens))[str(runs)]
        step.pop("_latencies")
        steps[tokens] = step
    short, long = steps[TOKENS], steps[LONG_TOKENS]
    extra = long["tokens_delivered"] - short["tokens_delivered"]
    per_token = {p: (long["cpu_s"][p] - short["cpu_s"][p]) / extra * 1e6 for p in short["cpu_s"]}
    per_run = {
        p: (short["cpu_s"][p] * 1e6 - per_token[p] * short["tokens_delivered"]) / short["runs_done"] for p in per_token
    }
    return {
        "runs_at_once": runs,
        "tokens_per_run": [TOKENS, LONG_TOKENS],
        "per_token_us": {p: round(v, 1) for p, v in per_token.items()} | {"all": round(sum(per_token.values()), 1)},
        "per_run_ms": {p: round(v / 1000, 2) for p, v in per_run.items()}
        | {"all": round(sum(per_run.values()) / 1000, 2)},
        "steps": {
            str(k): {
                key: v[key]
                for key in (
                    "wall_s",
                    "first_token",
                    "added_latency",
                    "cpu_us_per_token",
                    "lost",
                    "reordered",
                    "failed_runs",
                )
            }
            for k, v in steps.items()
        },
    }


async def scaling(base: Path, workers: int, env: dict[str, str], runs: int, text: str) -> float:
    """Runs completed per second with `workers` one-run-at-a-time workers, all runs submitted at once."""
    stack = Stack(base, env=env | {"LLM_CAPACITY": "1", "GATEWAY_CHAT_PER_MINUTE": "1000"})
    stack.start(workers=workers)
    try:
        # As many warm-up runs as workers, at once: each worker (one run at a time) takes one, so none is cold
        # (the embedded model's first answer in a process is much slower).
        await asyncio.gather(*(chat(stack.url, f"{text} warm {n}", timeout_s=300) for n in range(workers)))
        started = time.monotonic()
        traces = await asyncio.gather(*(chat(stack.url, f"{text} {n}", timeout_s=300) for n in range(runs)))
        elapsed = time.monotonic() - started
        failed = [t.error for t in traces if t.finished is None]
        assert not failed, failed
    finally:
        stack.stop()
    return runs / elapsed


async def measure(base: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"machine_at_start": machine_load(), "tokens_per_run": TOKENS, "rate_per_run": RATE}
    figures["concurrent"] = await concurrency(base / "concurrent")
    series = {f"{k} runs": v.pop("_latencies") for k, v in figures["concurrent"].items()}
    plot_latencies("concurrent", series, f"Added latency per token, {TOKENS} tokens at {RATE:.0f} tok/s per run")
    figures["cost_split"] = await cost_split(base / "split")

    scripted = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "20", "LLM_SCRIPT_RATE": "100"}
    from services.llm_worker.backends.embedded import model_path

    models = base / "models"
    model_path(models)
    embedded = {"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models)}
    kinds = {
        "scripted": (scripted, 40, "go", "20 tokens at 100 tok/s (0.2 s of waiting on the model), 40 runs"),
        "embedded": (embedded, 6, "add apples", "the embedded model (CPU in the worker), 6 runs of “add apples N”"),
    }
    figures["scaling"] = {}
    for kind, (env, runs, text, what) in kinds.items():
        rates = {w: await scaling(base / f"{kind}{w}", w, env, runs, text) for w in SCALING_WORKERS}
        figures["scaling"][kind] = {
            "run": what,
            "runs_per_s": {str(k): round(v, 2) for k, v in rates.items()},
            "speedup_1_to_4": round(rates[4] / rates[1], 2),
        }
    plot_scaling(figures["scaling"])
    save("load", figures)
    return figures


def plot_scaling(scaling: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.common import RESULTS

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(SCALING_WORKERS, SCALING_WORKERS, "--", color="grey", label="ideal")
    for kind, figures in scaling.items():
        rates = [figures["runs_per_s"][str(w)] for w in SCALING_WORKERS]
        ax.plot(SCALING_WORKERS, [r / rates[0] for r in rates], "o-", label=f"{kind} ({rates[0]:.2f} runs/s at 1)")
    ax.set_xlabel("workers (one run at a time each)")
    ax.set_ylabel("speed-up over one worker")
    ax.set_xticks(list(SCALING_WORKERS))
    ax.set_title("Worker scaling on 2 cores")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "scaling.png", dpi=110)
    plt.close(fig)


def run() -> dict[str, Any]:
    return in_scratch(measure)


async def concurrency_only(base: Path, sizes: tuple[int, ...]) -> dict[str, Any]:
    figures = await concurrency(base, sizes)
    for step in figures.values():
        step.pop("_latencies")
    return {"machine_at_start": machine_load(), "concurrent": figures}


if __name__ == "__main__":
    # `python -m bench.load 500 1000`: only those concurrency steps, printed and not saved (to compare two
    # versions of the code back to back); `python -m bench.load split`: only the cost per token and per run;
    # with no argument, everything, saved in bench/results.
    if sys.argv[1:] == ["split"]:
        print_figures(in_scratch(cost_split))
    else:
        chosen = tuple(int(arg) for arg in sys.argv[1:])
        print_figures(in_scratch(lambda base: concurrency_only(base, chosen)) if chosen else run())
