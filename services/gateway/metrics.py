"""The gateway's figures for Prometheus: connections, what it relayed, runs, and how long things took."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

PREFIX = "ghostbus_gateway_"
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

COUNTERS = {
    "sse_clients": ("gauge", "browsers connected to the event stream"),
    "ws_clients": ("gauge", "browsers connected to the chat"),
    "ui_events_relayed_total": ("counter", "UI events sent to browsers (one per browser)"),
    "sse_clients_dropped_total": ("counter", "browsers disconnected for falling behind"),
    "run_events_relayed_total": ("counter", "chat run events sent to browsers"),
    "runs_submitted_total": ("counter", "chat runs put on the work queue"),
    "runs_finished_total": ("counter", "chat runs that ended with an answer"),
    "runs_failed_total": (
        "counter",
        "chat runs that ended with an error (no worker, a dead model, a timeout, stopped)",
    ),
    "commands_total": ("counter", "commands sent to crud from forms and the API"),
}

HISTOGRAMS = {
    "run_wait_seconds": "from a chat message to its run starting on a worker",
    "run_first_text_seconds": "from a chat message to the first text of its answer",
    "run_seconds": "from a chat message to the end of its run",
    "ui_event_age_seconds": "from crud's change to the gateway sending it to browsers",
    "command_seconds": "a person's command: the round trip to crud",
}


@dataclass
class Histogram:
    """Cumulative buckets, a sum and a count, as Prometheus reads them."""

    bounds: tuple[float, ...] = SECONDS
    counts: list[int] = field(default_factory=lambda: [0] * (len(SECONDS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def lines(self, name: str) -> list[str]:
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        return [*out, f"{name}_sum {self.total:.6f}", f"{name}_count {running}"]


class Metrics:
    """Counters and histograms, updated in place by whoever does the work (one event loop, no locks)."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.histograms = {name: Histogram() for name in HISTOGRAMS}
        self.gauges: dict[str, Callable[[], int]] = {}

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def observe(self, name: str, seconds: float) -> None:
        self.histograms[name].observe(max(seconds, 0.0))

    def render(self) -> str:
        lines = []
        for name, (kind, help_text) in COUNTERS.items():
            value = self.gauges[name]() if name in self.gauges else self.counters.get(name, 0)
            lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}", f"{PREFIX}{name} {value}"]
        for name, help_text in HISTOGRAMS.items():
            lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} histogram"]
            lines += self.histograms[name].lines(PREFIX + name)
        return "\n".join(lines) + "\n"
