"""The gateway's figures for Prometheus: connections, what it relayed, runs, and how long things took."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

PREFIX = "ghostbus_gateway_"
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_LABEL = 100

# name: (kind, help, label names). Counters are named with their `_total`, as they are exposed.
SERIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "sse_clients": ("gauge", "browsers connected to the event stream", ()),
    "ws_clients": ("gauge", "browsers connected to the chat", ()),
    "ui_events_relayed_total": ("counter", "UI events sent to browsers (one per browser)", ()),
    "sse_clients_dropped_total": ("counter", "browsers disconnected for falling behind", ()),
    "run_events_relayed_total": ("counter", "chat run events sent to browsers, by AG-UI event type", ("type",)),
    "runs_submitted_total": ("counter", "chat runs put on the work queue", ()),
    "runs_finished_total": ("counter", "chat runs that ended with an answer, by the model that gave it", ("model",)),
    "runs_failed_total": (
        "counter",
        "chat runs that ended with an error, by its code (no worker, a dead model, a timeout, stopped)",
        ("code",),
    ),
    "commands_total": ("counter", "commands sent to crud from forms and the API", ()),
    "confirmations_answered_total": ("counter", "approvals and rejections a person gave", ()),
}

HISTOGRAMS = {
    "run_wait_seconds": "from a chat message to its run starting on a worker",
    "run_first_text_seconds": "from a chat message to the first text of its answer",
    "run_seconds": "from a chat message to the end of its run",
    "ui_event_age_seconds": "from crud's change to the gateway sending it to browsers",
    "command_seconds": "a person's command: the round trip to crud",
}


class Gauges:
    """`metrics.gauges[name] = function`: a gauge read from the function at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __setitem__(self, name: str, read: Callable[[], float]) -> None:
        gauge = self.metrics.series[name]
        assert isinstance(gauge, Gauge), f"{name} is not a gauge"
        gauge.set_function(read)


class Metrics:
    """One gateway's series in a registry of its own (several gateways may share a process in tests),
    plus the process's CPU, memory and file descriptors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.series: dict[str, Counter | Gauge] = {}
        self._children: dict[tuple[str, tuple[tuple[str, str | None], ...]], Any] = {}  # counted per token: kept
        for name, (kind, help_text, labels) in SERIES.items():
            if kind == "gauge":
                self.series[name] = Gauge(PREFIX + name, help_text, labels, registry=self.registry)
            else:
                counted = PREFIX + name.removesuffix("_total")  # prometheus_client adds `_total` itself
                self.series[name] = Counter(counted, help_text, labels, registry=self.registry)
        self.histograms = {
            name: Histogram(PREFIX + name, help_text, buckets=SECONDS, registry=self.registry)
            for name, help_text in HISTOGRAMS.items()
        }
        self.gauges = Gauges(self)

    def count(self, name: str, by: int = 1, **labels: str | None) -> None:
        key = (name, tuple(labels.items()))
        series = self._children.get(key)
        if series is None:
            series = self.series[name]
            wanted = SERIES[name][2]
            if wanted:
                values = {label: (labels.get(label) or "unknown")[:MAX_LABEL] for label in wanted}
                series = series.labels(**values)
            self._children[key] = series
        series.inc(by)

    def observe(self, name: str, seconds: float) -> None:
        self.histograms[name].observe(max(seconds, 0.0))

    def render(self) -> bytes:
        """Every series in Prometheus' text format."""
        return generate_latest(self.registry)
