"""The worker's Prometheus metrics, and the trace and log ids a run is performed under."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable
from typing import Any

from nats.aio.msg import Msg
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel

from proto import logs, tracing
from proto.events import RunErrorEvent, RunFinishedEvent

SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
RATES = (1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)

RUNS = Counter("ghostbus_worker_runs", "runs ended, by outcome (finished, or the error code)", ["backend", "outcome"])
RUNS_IN_PROGRESS = Gauge("ghostbus_worker_runs_in_progress", "runs this worker is performing now")
RUN_SECONDS = Histogram("ghostbus_worker_run_seconds", "from taking a run off the queue to its end", buckets=SECONDS)
QUEUE_WAIT = Histogram(
    "ghostbus_worker_queue_wait_seconds",
    "from a run's submission to a worker taking it (first delivery)",
    buckets=SECONDS,
)
TOKENS = Counter("ghostbus_worker_tokens", "tokens the model generated in finished runs", ["backend"])
TOKENS_PER_S = Histogram(
    "ghostbus_worker_tokens_per_second", "each finished run's generation speed", ["backend"], buckets=RATES
)
MODEL_ERRORS = Counter("ghostbus_worker_model_errors", "runs ended by the model backend failing", ["backend"])


def saw(event: BaseModel, backend: str) -> None:
    """Count a run's end from the event that tells the person about it."""
    if isinstance(event, RunFinishedEvent):
        RUNS.labels(backend=backend, outcome="finished").inc()
        result: Any = event.result if isinstance(event.result, dict) else {}
        if isinstance(tokens := result.get("tokens"), int) and tokens > 0:
            TOKENS.labels(backend=backend).inc(tokens)
        if isinstance(rate := result.get("tokens_per_s"), int | float) and rate > 0:
            TOKENS_PER_S.labels(backend=backend).observe(rate)
    elif isinstance(event, RunErrorEvent):
        RUNS.labels(backend=backend, outcome=event.code or "error").inc()
        if event.code == "backend":
            MODEL_ERRORS.labels(backend=backend).inc()


def _peek(data: bytes) -> dict[str, Any]:
    """The run request's fields, read loosely (the worker validates it properly)."""
    with contextlib.suppress(ValueError, RecursionError):
        body = json.loads(data)
        if isinstance(body, dict):
            return body
    return {}


async def taking(msg: Msg, work: Awaitable[None]) -> None:
    """`work` on a run taken off the queue: timed, in the trace the gateway started, its log lines
    carrying the run id."""
    body = _peek(msg.data)
    run_id = body.get("run_id") if isinstance(body.get("run_id"), str) else None
    submitted = body.get("submitted_at")
    started = time.monotonic()
    if msg.metadata.num_delivered == 1 and isinstance(submitted, int | float):
        QUEUE_WAIT.observe(max(time.time() - submitted, 0.0))
    RUNS_IN_PROGRESS.inc()
    attributes = {"run_id": run_id} if run_id else {}
    try:
        with (
            tracing.span("llm_worker run", msg.headers or {}, SpanKind.CONSUMER, **attributes),
            logs.bound(run_id=run_id),
        ):
            await work
    finally:
        RUNS_IN_PROGRESS.dec()
        RUN_SECONDS.observe(time.monotonic() - started)
