"""`python -m bench` (or `make bench`): run every benchmark and rewrite bench/README.md with the figures."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import command_to_screen, crud, load, model, relay
from bench.common import HERE, RESULTS, save

SIZES = (200, 1000)


def yes(met: bool) -> str:
    return "met" if met else "**missed**"


def report(figures: dict[str, Any], took_s: float) -> str:
    r, c, lo, m = figures["relay"], figures["command_to_screen"], figures["load"], figures["model"]
    hundred, twenty, top = r["100 tok/s"], r["20 tok/s"], r["max"]
    scaling = lo["scaling"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench` (`make bench`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; the whole run took {took_s / 60:.1f} min. "
        "Every figure is measured on loopback with real processes (nats-server, crud, llm_worker, gateway) and "
        "compared within the same run. The machine is shared: treat single figures as ±30 %.",
        "",
        "## Headline",
        "",
        "| what | figure | target | |",
        "|---|---|---|---|",
        f"| added latency per token, 100 tok/s, p50 | {hundred['added_latency']['p50_ms']} ms | < 1 ms | "
        f"{yes(hundred['added_latency']['p50_ms'] < 1)} |",
        f"| added latency per token, 100 tok/s, p99 | {hundred['added_latency']['p99_ms']} ms | < 5 ms | "
        f"{yes(hundred['added_latency']['p99_ms'] < 5)} |",
        f"| added latency per token, 20 tok/s, p50 / p99 | {twenty['added_latency']['p50_ms']} / "
        f"{twenty['added_latency']['p99_ms']} ms | < 1 / < 5 ms | "
        f"{yes(twenty['added_latency']['p50_ms'] < 1 and twenty['added_latency']['p99_ms'] < 5)} |",
        f"| throughput ratio at 20 / 100 tok/s | {twenty['throughput_ratio']} / {hundred['throughput_ratio']} | "
        f"≥ 0.98 | {yes(min(twenty['throughput_ratio'], hundred['throughput_ratio']) >= 0.98)} |",
        f"| time-to-first-token overhead (100 tok/s) | {hundred['ttft_overhead_ms']} ms | | |",
        f"| as fast as possible: tokens/s through the system | {top['tokens_per_s_through_system']} "
        f"(direct {top['tokens_per_s_direct']}) | | |",
        f"| command to screen (SSE), p50 / p99 | {c['command_to_sse']['p50_ms']} / {c['command_to_sse']['p99_ms']} ms "
        f"| p99 < 20 ms | {yes(c['command_to_sse']['p99_ms'] < 20)} |",
        f"| worker scaling 1 → 4 workers | {scaling['speedup_1_to_4']}x | ≥ 3.5x | "
        f"{yes(scaling['speedup_1_to_4'] >= 3.5)} |",
    ]
    for size, result in lo["concurrent"].items():
        if "error" in result:
            lines.append(f"| {size} concurrent runs at 50 tok/s | {result['error']} | no loss | **missed** |")
            continue
        clean = result["lost"] == 0 and result["reordered"] == 0 and result["failed_runs"] == 0
        lines.append(
            f"| {size} concurrent runs at 50 tok/s: lost / reordered / p99 added | {result['lost']} / "
            f"{result['reordered']} / {result['added_latency']['p99_ms']} ms | no loss, no reorder | {yes(clean)} |"
        )
    if "crud" in figures:
        cr = figures["crud"]
        lines += [
            f"| crud: 10,000 creates, commands/s (32 in flight) | {cr['creates']['commands_per_s']} | | |",
            f"| crud: create latency through NATS, p50 / p99 | {cr['creates']['latency']['p50_ms']} / "
            f"{cr['creates']['latency']['p99_ms']} ms | | |",
            f"| crud: mixed workload one at a time, commands/s, p50 / p99 | {cr['mixed']['commands_per_s']}, "
            f"{cr['mixed']['latency']['p50_ms']} / {cr['mixed']['latency']['p99_ms']} ms | | |",
        ]
    lines += [
        f"| embedded model: tokens/s through the system / direct | {m['tokens_per_s_ratio']} | | |",
        f"| embedded model: time to first command, overhead | {m['first_command_overhead_ms']} ms | | |",
        f"| embedded model: right command | {m['accuracy']['right']}/{m['accuracy']['of']} | | |",
        "",
        "## Relay overhead",
        "",
        "`python -m bench.relay`. The scripted backend (`LLM_BACKEND=scripted`) writes each token as the wall-clock "
        "time it was emitted; the client subtracts it from the arrival time, so every token carries its own "
        "measurement. The direct figures read the same backend in one process.",
        "",
        "```json",
        json.dumps(r, indent=2),
        "```",
        "",
        "![Added latency per token](results/relay.png)",
        "",
        "## Command to screen",
        "",
        "`python -m bench.command_to_screen`: scripted commands named by their emit time; an `/events` client "
        "reads the rendered item and subtracts. The path: worker → crud (transaction, outbox) → relay → "
        "JetStream → gateway → SSE.",
        "",
        "```json",
        json.dumps(c, indent=2),
        "```",
        "",
        "![Command to screen](results/command_to_screen.png)",
        "",
        "## Concurrent chats and worker scaling",
        "",
        "`python -m bench.load 200 1000`. Every run is its own WebSocket client in the benchmark process, "
        "which shares the 2 cores with the services, so the latency under load includes the client's own "
        "queueing. CPU is the share of one core over the run's wall time.",
        "",
        "```json",
        json.dumps(lo, indent=2),
        "```",
        "",
        "![Concurrent chats](results/concurrent.png)",
        "",
        "![Worker scaling](results/scaling.png)",
        "",
        "## The embedded model",
        "",
        "`python -m bench.model`: the same requests (each new to the model's prompt cache) through the whole "
        "system and in one process; tokens/s are the model's own counts. Accuracy over 30 requests:",
        "",
        "| request | expected | got | |",
        "|---|---|---|---|",
    ]
    for row in m["accuracy"]["rows"]:
        lines.append(f"| {row['request']} | `{row['expected']}` | `{row['got']}` | {'✓' if row['right'] else '✗'} |")
    lines += ["", f"By kind: {json.dumps(m['accuracy']['by_kind'])}", ""]
    if "crud" in figures:
        lines += [
            "## crud",
            "",
            "`python -m bench.crud`: requests to crud's endpoints from one client, through NATS, each command one "
            "SQLite transaction (the change, its stored result, its inverse and its events). The list holds at most "
            "1,000 tasks, so the 10,000 creates run as ten rounds of 1,000, emptying the list between rounds "
            "(not timed); each command rewrites positions as needed, so a create costs more as the list grows.",
            "",
            "```json",
            json.dumps(figures["crud"], indent=2),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:] == ["render"]:
        # Rewrite the README from the figures already measured (after running one benchmark again).
        figures = json.loads((RESULTS / "all.json").read_text())
        for name in ("relay", "command_to_screen", "load", "model", "crud"):
            path = RESULTS / f"{name}.json"
            if path.exists():
                figures[name] = json.loads(path.read_text())
        took = float(figures.get("took_s", 0))
        (HERE / "README.md").write_text(report(figures, took))
        return
    started = time.monotonic()
    figures: dict[str, Any] = {}
    figures["relay"] = relay.run()
    figures["command_to_screen"] = command_to_screen.run()
    try:
        figures["load"] = load.run(SIZES)
    except Exception as error:  # noqa: BLE001 - report what failed rather than nothing
        print(f"load at {SIZES} failed ({error!r}); retrying with 200 only", file=sys.stderr)
        figures["load"] = load.run((200,))
        figures["load"]["concurrent"]["1000"] = {"error": f"did not complete: {error!r}"[:200]}
    figures["model"] = model.run()
    figures["crud"] = crud.run()
    took = time.monotonic() - started
    save("all", figures | {"took_s": took})
    (HERE / "README.md").write_text(report(figures, took))
    print(f"bench/README.md rewritten ({took / 60:.1f} min)")


if __name__ == "__main__":
    main()
