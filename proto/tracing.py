"""W3C trace context across the bus: one run followed from the gateway through a worker to crud.

The `traceparent` header travels in NATS message headers. Spans are made by the OpenTelemetry SDK; they
leave the process only when an OTLP endpoint is set (the `otlp` extra), so by default nothing is sent
anywhere and the trace id shows up in the JSON logs instead."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
OTLP_MISSING = (
    "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed; "
    "install it with `pip install 'ghostbus[otlp]'` or unset the variable"
)

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("ghostbus")


class TracingUnavailable(RuntimeError):
    """Spans were asked to be exported, but this installation cannot."""


def setup(service: str, otlp_endpoint: str | None = None) -> None:
    """Make real spans in this process (before it, spans only pass a received context on). With
    `otlp_endpoint`, finished spans are sent there in batches; the exporter reads the other standard
    OTEL_EXPORTER_OTLP_* variables itself."""
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.namespace": "ghostbus"}))
    if otlp_endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError as error:
            raise TracingUnavailable(OTLP_MISSING) from error
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


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
    with _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as current:
        yield current


def trace_id() -> str | None:
    """The current trace's id as 32 hex digits, or None outside a span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
