"""W3C trace context across the bus: one run followed from the gateway through a worker to crud.

The `traceparent` header travels in NATS message headers. Spans are made by the OpenTelemetry SDK when an
OTLP endpoint is set (the `otlp` extra), which they are sent to. Without one nothing would read them, so none
is recorded: each `span` only takes its place in the trace (the trace id, and a span id of its own), which
the headers pass on and the JSON logs show."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
OTLP_MISSING = (
    "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed; "
    "install it with `pip install 'ghostbus[otlp]'` or unset the variable"
)

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("ghostbus")
_ids = random.Random()  # a span's ids need to be unique, not secret (the SDK's RandomIdGenerator alike)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class _Recording:
    """Whether spans are recorded (an exporter was set up): a span costs tens of microseconds in the SDK, and
    a run makes one in each service it passes through."""

    on = False


class TracingUnavailable(RuntimeError):
    """Spans were asked to be exported, but this installation cannot."""


def setup(service: str, otlp_endpoint: str | None = None) -> None:
    """Record spans in this process and send them to `otlp_endpoint` in batches (the exporter reads the other
    standard OTEL_EXPORTER_OTLP_* variables itself). Without an endpoint nothing would read them: none is
    recorded (see `span`)."""
    if not otlp_endpoint:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.namespace": "ghostbus"}))
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter,
        )
    except ImportError as error:
        raise TracingUnavailable(OTLP_MISSING) from error
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _Recording.on = True


def inject(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """`headers` plus the current span's `traceparent` (nothing added outside a span)."""
    carrier = dict(headers or {})
    _propagator.inject(carrier)
    return carrier


def extract(headers: Mapping[str, str] | None) -> Context:
    """The trace context a message arrived with (an empty one when it carried none)."""
    return _propagator.extract(dict(headers or {}))


@contextlib.contextmanager
def span(
    name: str, headers: Mapping[str, str] | None = None, kind: SpanKind = SpanKind.INTERNAL, **attributes: str
) -> Iterator[Span]:
    """A span, current in the block. With `headers` (a received message's; `{}` for none) it continues the
    trace they carry, or starts a new one; without, it is a child of the current span."""
    parent = extract(headers) if headers is not None else None
    if _Recording.on:
        with _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as current:
            yield current
        return
    above = trace.get_current_span(parent).get_span_context()
    trace_id = above.trace_id if above.is_valid else _ids.getrandbits(128)
    place = SpanContext(trace_id, _ids.getrandbits(64), is_remote=False, trace_flags=_SAMPLED)
    with trace.use_span(NonRecordingSpan(place)) as current:
        yield current


def trace_id() -> str | None:
    """The current trace's id as 32 hex digits, or None outside a span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
