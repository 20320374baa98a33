"""Every service's log lines: text for a person at a terminal, or one JSON object per line for a collector."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace

LogFormat = Literal["text", "json"]
IDS = ("run_id", "command_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What the code in hand works for (a run, a command); tasks started inside inherit it.
_bound: ContextVar[dict[str, str]] = ContextVar("ghostbus_log_ids")

# Attributes every LogRecord has; anything else on a record came from `extra=` and goes into the JSON.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


@contextlib.contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Every line logged in the block (and in tasks it starts) carries these ids (`run_id`, `command_id`)."""
    token = _bound.set(_bound.get({}) | {k: v for k, v in ids.items() if v})
    try:
        yield
    finally:
        _bound.reset(token)


def current() -> dict[str, str]:
    """The ids bound here, and the trace and span of the current OpenTelemetry span, if any."""
    fields = dict(_bound.get({}))
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        fields["trace_id"] = format(context.trace_id, "032x")
        fields["span_id"] = format(context.span_id, "016x")
    return fields


class ContextFilter(logging.Filter):
    """Puts the bound ids and the trace on each record (an `extra=` given to the call wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, service, message, the ids, and any `extra=`."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual line, with the run and command it belongs to when the message does not name them."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        message = record.getMessage()
        named = [f"{key}={value}" for key in IDS if (value := getattr(record, key, None)) and str(value) not in message]
        return f"{text} [{' '.join(named)}]" if named else text


def setup(service: str, log_format: LogFormat = "text", level: str = "INFO") -> None:
    """Send every logger's records to stderr in `log_format`, replacing what was configured before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
