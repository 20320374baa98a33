"""The Ollama backend on the wire: the stand-in Ollama server (`bench/ollama_server.py`) stamps each token
as it writes it to the HTTP stream; the latency to a WebSocket client through the Ollama backend (httpx,
the inline command parser), the worker, NATS and the gateway is compared with the same backend read in
the benchmark's own process, so the difference is what the bus adds on top of the HTTP hop."""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import chat, in_scratch, machine_load, plot_latencies, print_figures, save, summary_ms
from services.llm_worker.backends.base import CommandOut, Prompt, TextDelta
from services.llm_worker.backends.ollama import OllamaBackend
from services.llm_worker.config import Settings
from tests.support.stack import Service, Stack, free_port

# (label, tokens/s (0: as fast as possible), tokens per run)
RATES = (("20 tok/s", 20.0, 100), ("100 tok/s", 100.0, 300), ("max", 0.0, 3000))
RUNS = 3
COMMANDS = 1  # an inline command line after the tokens, which the parser must cut out


def wait_serving(server: Service, url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/tags", timeout=1):
                return
        except OSError:
            if server.proc.poll() is not None:
                raise RuntimeError(f"the Ollama stand-in exited:\n{server.output()[-2000:]}") from None
            time.sleep(0.05)
    raise RuntimeError(f"the Ollama stand-in did not answer in {timeout_s}s:\n{server.output()[-2000:]}")


async def direct(host: str) -> dict[str, Any]:
    """The Ollama backend in this process against the same server: the HTTP hop alone."""
    backend = OllamaBackend(Settings(OLLAMA_HOST=host, OLLAMA_MODEL="scripted", strategy="inline"))
    await backend.start()
    try:
        started = time.time()
        pairs: list[tuple[float, float]] = []
        commands = 0
        async for chunk in backend.stream(Prompt(text="go", tasks=[])):
            if isinstance(chunk, TextDelta) and chunk.text.strip():
                pairs.append((float(chunk.text), time.time()))
            elif isinstance(chunk, CommandOut):
                commands += 1
    finally:
        await backend.close()
    assert commands == COMMANDS, f"the parser found {commands} commands"
    span = pairs[-1][1] - pairs[0][1]
    return {
        "latencies": [arrived - emitted for emitted, arrived in pairs],
        "tokens_per_s": (len(pairs) - 1) / span if span else float("inf"),
        "ttft_s": pairs[0][1] - started,
    }


async def measure(base: Path) -> dict[str, Any]:
    stack = Stack(base)
    stack.start(workers=0)
    figures: dict[str, Any] = {"machine_at_start": machine_load()}
    series: dict[str, list[float]] = {}
    try:
        for label, rate, tokens in RATES:
            name = label.split()[0]
            host = f"http://127.0.0.1:{free_port()}"
            script = {"LLM_SCRIPT_RATE": str(rate), "LLM_SCRIPT_TOKENS": str(tokens)}
            script |= {"LLM_SCRIPT_COMMANDS": str(COMMANDS), "OLLAMA_HOST": host}
            server = stack.spawn(f"ollama-{name}", "bench.ollama_server", script)
            await asyncio.to_thread(wait_serving, server, host)
            worker = stack.spawn(
                f"worker-ollama-{name}",
                "services.llm_worker",
                {"LLM_BACKEND": "ollama", "OLLAMA_HOST": host, "OLLAMA_MODEL": "scripted", "LLM_STRATEGY": "inline"},
            )
            await asyncio.to_thread(worker.wait_for_line, "llm_worker ready", 60)
            await chat(stack.url, "warm up")
            await direct(host)
            through: list[float] = []
            alone: list[float] = []
            ttft: list[float] = []
            ttft_direct: list[float] = []
            rates: list[float] = []
            rates_direct: list[float] = []
            # Interleaved, so both see the same machine (it is shared and noisy).
            for _ in range(RUNS):
                trace = await chat(stack.url, "go")
                assert trace.finished is not None and len(trace.arrivals) == tokens, trace.error
                assert trace.command_results == COMMANDS, "the inline command did not reach crud"
                through += trace.latencies
                ttft.append(trace.arrivals[0][1] - trace.sent_at)
                rates.append((tokens - 1) / (trace.arrivals[-1][1] - trace.arrivals[0][1]))
                baseline = await direct(host)
                alone += baseline["latencies"]
                ttft_direct.append(baseline["ttft_s"])
                rates_direct.append(baseline["tokens_per_s"])
            worker.stop()
            server.stop()
            series[f"{label} through the system"] = through
            series[f"{label} backend alone"] = alone
            system, only = summary_ms(through), summary_ms(alone)
            figures[label] = {
                "latency_through_system": system,
                "latency_backend_alone": only,
                "added_by_bus_p50_ms": round(system["p50_ms"] - only["p50_ms"], 3),
                "added_by_bus_p99_ms": round(system["p99_ms"] - only["p99_ms"], 3),
                "ttft_through_system_ms": round(statistics.fmean(ttft) * 1000, 2),
                "ttft_backend_alone_ms": round(statistics.fmean(ttft_direct) * 1000, 2),
                "tokens_per_s_through_system": round(statistics.fmean(rates), 1),
                "tokens_per_s_backend_alone": round(statistics.fmean(rates_direct), 1),
                "throughput_ratio": round(statistics.fmean(rates) / statistics.fmean(rates_direct), 4),
                "tokens": tokens * RUNS,
            }
    finally:
        stack.stop()
    plot_latencies(
        "wire",
        {k: v for k, v in series.items() if not k.startswith("max")},
        "Ollama on the wire: server stamp → client (through the system, and the backend alone)",
    )
    save("wire", figures)
    return figures


def run() -> dict[str, Any]:
    return in_scratch(measure)


if __name__ == "__main__":
    print_figures(run())
