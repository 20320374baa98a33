"""`python -m bench` (or `make bench`): run every benchmark and rewrite bench/README.md with the figures.

`python -m bench render` rewrites the README from the figures already in bench/results (after running
one benchmark again on its own)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import command_to_screen, crud, hop, load, model, relay, wire
from bench.common import HERE, RESULTS, save
from bench.report import render

BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "hop": hop.run,
    "relay": relay.run,
    "wire": wire.run,
    "command_to_screen": command_to_screen.run,
    "load": load.run,
    "model": model.run,
    "crud": crud.run,
}


def main() -> None:
    if sys.argv[1:] == ["render"]:
        figures = {name: json.loads((RESULTS / f"{name}.json").read_text()) for name in BENCHMARKS}
        took = json.loads((RESULTS / "all.json").read_text()) if (RESULTS / "all.json").exists() else {}
        (HERE / "README.md").write_text(render(figures, took.get("took_s", 0.0), took.get("durations_s", {})))
        return
    started = time.monotonic()
    figures: dict[str, Any] = {}
    durations: dict[str, float] = {}
    for name, run in BENCHMARKS.items():
        began = time.monotonic()
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        figures[name] = run()
        durations[name] = round(time.monotonic() - began, 1)
        print(f"bench: {name} took {durations[name]:.0f} s", file=sys.stderr, flush=True)
    took = time.monotonic() - started
    save("all", {"took_s": round(took, 1), "durations_s": durations})
    (HERE / "README.md").write_text(render(figures, took, durations))
    print(f"bench/README.md rewritten ({took / 60:.1f} min)")


if __name__ == "__main__":
    main()
