"""Where a run's trace begins: the gateway's span around putting a chat run on the work queue."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry.trace import SpanKind

from proto import logs, tracing


@contextlib.contextmanager
def submitting(run_id: str, thread_id: str) -> Iterator[None]:
    """A new trace for the run, current in the block: the run request published in it carries its
    `traceparent` (`tracing.inject`), and the block's log lines, and those of tasks it starts (the run's
    relay to the browser, the subscription's callbacks), carry the run id and the trace id."""
    # `{}`: a run starts its own trace, whatever the socket's handling of earlier frames left current.
    with (
        tracing.span("gateway chat.submit", {}, SpanKind.PRODUCER, run_id=run_id, thread_id=thread_id),
        logs.bound(run_id=run_id),
    ):
        yield
