"""`python -m bench` (or `make bench`): run every benchmark and rewrite bench/README.md with the figures.

`python -m bench render` rewrites the README from the figures already in bench/results (after running
one benchmark again on its own)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import command_to_screen, crud, fanout, hop, load, model, relay, wire
from bench.common import HERE, RESULTS, save
from bench.report import now, render, source

BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "hop": hop.run,
    "relay": relay.run,
    "wire": wire.run,
    "command_to_screen": command_to_screen.run,
    "fanout": fanout.run,
    "load": load.run,
    "model": model.run,
    "crud": crud.run,
}


def main() -> None:
    if sys.argv[1:] == ["render"]:
        figures = {name: json.loads((RESULTS / f"{name}.json").read_text()) for name in BENCHMARKS}
        for own in ("accuracy", "versus"):  # each its own run (bench.accuracy, bench.versus: minutes of both cores)
            if (RESULTS / f"{own}.json").exists():
                figures[own] = json.loads((RESULTS / f"{own}.json").read_text())
        run = json.loads((RESULTS / "all.json").read_text()) if (RESULTS / "all.json").exists() else {}
        page = render(
            figures,
            run.get("took_s", 0.0),
            run.get("durations_s", {}),
            run.get("written", now()),
            run.get("measured", source()),
        )
        (HERE / "README.md").write_text(page)
        return
    started = time.monotonic()
    measured = source()
    figures: dict[str, Any] = {}
    durations: dict[str, float] = {}
    for name, run in BENCHMARKS.items():
        began = time.monotonic()
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        figures[name] = run()
        durations[name] = round(time.monotonic() - began, 1)
        print(f"bench: {name} took {durations[name]:.0f} s", file=sys.stderr, flush=True)
    took = time.monotonic() - started
    if (RESULTS / "versus.json").exists():
        figures["versus"] = json.loads((RESULTS / "versus.json").read_text())
    written = now()
    save("all", {"took_s": round(took, 1), "durations_s": durations, "written": written, "measured": measured})
    (HERE / "README.md").write_text(render(figures, took, durations, written, measured))
    print(f"bench/README.md rewritten ({took / 60:.1f} min)")


if __name__ == "__main__":
    main()
