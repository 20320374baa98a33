"""crud's Prometheus metrics, and the trace and log ids each request is handled under."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator

import aiosqlite
from nats.micro.request import Request
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram

from proto import logs, tracing
from proto.messages import CommandResult

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

COMMANDS = Counter(
    "ghostbus_crud_commands",
    "commands handled, by op and outcome (ok, repeat: answered from its first result, or the error code)",
    ["op", "outcome"],
)
COMMAND_SECONDS = Histogram(
    "ghostbus_crud_command_seconds", "from a command's arrival to crud's reply", ["op"], buckets=SECONDS
)
OUTBOX_BACKLOG = Gauge("ghostbus_crud_outbox_backlog", "UI events committed but not yet acknowledged by JetStream")
EVENTS_PUBLISHED = Counter("ghostbus_crud_events_published", "UI events the outbox relay published to JetStream")

Handler = Callable[[Request], Awaitable[None]]


def outcome(result: CommandResult, new: bool) -> str:
    """What became of a command, as a label with few values."""
    if not new:
        return "repeat"
    if result.ok:
        return "ok"
    return result.error.code if result.error else "failed"


def command_done(op: str, what: str, started: float) -> None:
    COMMANDS.labels(op=op, outcome=what).inc()
    COMMAND_SECONDS.labels(op=op).observe(time.monotonic() - started)


async def backlog(conn: aiosqlite.Connection) -> int:
    """How many outbox rows wait for JetStream."""
    async with conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def ids_of(data: bytes) -> dict[str, str]:
    """The run and command a request belongs to, read loosely (the handler validates it properly)."""
    with contextlib.suppress(ValueError, AttributeError, TypeError, RecursionError):
        body = json.loads(data)
        return {k: v for k in logs.IDS if isinstance(v := body.get(k), str) and 0 < len(v) <= 64}
    return {}


@contextlib.contextmanager
def handling(endpoint: str, request: Request) -> Iterator[None]:
    """A request handled as part of the trace it arrived with, its log lines carrying its run and command."""
    with (
        tracing.span(f"crud {endpoint}", request.headers or {}, SpanKind.SERVER, endpoint=endpoint),
        logs.bound(**ids_of(request.data)),
    ):
        yield


def traced(endpoint: str, handler: Handler) -> Handler:
    """`handler` run under `handling`."""

    async def handle(request: Request) -> None:
        with handling(endpoint, request):
            await handler(request)

    return handle
