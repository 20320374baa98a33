"""The capacity step against an earlier commit, alternated: `python -m bench.versus REF [RUNS]`.

The machine is shared, and one run of 500 chats at once swings by a third from one minute to the next, so a
change is judged by the same step run in turn on this checkout and on REF (a git worktree made for the
purpose, removed afterwards), RUNS times each (5 unless given): `python -m bench.load 500`, each in its own
process, as a person would run it. Saved in bench/results/versus.json; `python -m bench render` puts it in
the README's capacity table, as median (lowest–highest) of each figure."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import HERE, machine_load, save

ROOT = HERE.parent
STEP = "500"

# Each figure of a run: a name, and where it is in `bench.load`'s figures for the step.
FIGURES: dict[str, tuple[str, ...]] = {
    "first_p99_ms": ("first_token", "p99_ms"),
    "streaming": ("streaming_at_once_max",),
    "added_p50_ms": ("added_latency", "p50_ms"),
    "added_p99_ms": ("added_latency", "p99_ms"),
    "cpu_all_us": ("cpu_us_per_token", "all"),
    "cpu_gateway_us": ("cpu_us_per_token", "gateway"),
    "cpu_crud_us": ("cpu_us_per_token", "crud"),
    "cpu_nats_us": ("cpu_us_per_token", "nats-server"),
    "cpu_client_us": ("cpu_us_per_token", "client (this process)"),
    "frames_per_token": ("frames_per_token",),
}


def one_run(tree: Path) -> dict[str, Any]:
    """`python -m bench.load 500` in `tree`, its figures for the step (and the load when it began)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", STEP], cwd=tree, capture_output=True, text=True, check=True
    ).stdout
    figures = json.loads(out[out.index("{") :])
    step = figures["concurrent"][STEP]
    step["load_avg_1m"] = figures["machine_at_start"]["load_avg_1m"]
    return dict(step)


def figure(step: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = step
    for key in path:
        value = value[key]
    return float(value)


def over_runs(values: list[float]) -> dict[str, Any]:
    """A figure over the runs: its median, lowest and highest, and each run's value in the order run."""
    return {"median": statistics.median(values), "low": min(values), "high": max(values), "runs": values}


def summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median, lowest and highest over the runs, and what no run may have (lost, reordered,
    failed)."""
    out: dict[str, Any] = {}
    for name, path in FIGURES.items():
        values = [figure(step, path) for step in steps]
        out[name] = over_runs(values)
    workers = [step["cpu_us_per_token"]["llm_worker0"] + step["cpu_us_per_token"]["llm_worker1"] for step in steps]
    out["cpu_workers_us"] = over_runs(workers)
    out["lost_reordered_failed"] = [sum(step[key] for step in steps) for key in ("lost", "reordered", "failed_runs")]
    out["runs"] = len(steps)
    return out


def commit(tree: Path, ref: str = "HEAD") -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=tree, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(ref: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), ref], cwd=ROOT, check=True)
        try:
            now_steps, before_steps, loads = [], [], []
            for n in range(runs):
                print(f"bench.versus: run {n + 1} of {runs}", file=sys.stderr, flush=True)
                loads.append(machine_load()["load_avg_1m"])
                now_steps.append(one_run(ROOT))
                before_steps.append(one_run(before))
            figures = {
                "now": summary(now_steps),
                "before": summary(before_steps),
                "before_commit": commit(before),
                "now_commit": commit(ROOT),
                "load_avg_1m": {"low": min(loads), "high": max(loads)},
            }
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
    save("versus", figures)
    return figures


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5), indent=2))
