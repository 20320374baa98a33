"""The shared operating helpers: log lines as text or JSON with the ids bound, trace context through headers,
and a metrics port that cannot be had."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator

import pytest

from proto import logs, tracing
from proto.observe import MetricsUnavailable, serve_metrics

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("tests.observe")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out, handler
    logger.removeHandler(handler)


def test_json_lines_carry_the_bound_ids_the_extras_and_the_exception(
    written: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, handler = written
    handler.setFormatter(logs.JsonFormatter("crud"))
    with logs.bound(run_id="r1", command_id="r1-1"):
        logger.info("created %s", "milk", extra={"op": "create"})
        try:
            raise ValueError("broken")
        except ValueError:
            logger.exception("failed")
    logger.info("after")
    first, second, after = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "created milk" and first["service"] == "crud" and first["level"] == "INFO"
    assert (first["run_id"], first["command_id"], first["op"]) == ("r1", "r1-1", "create")
    assert second["level"] == "ERROR" and "ValueError: broken" in second["exception"]
    assert "run_id" not in after and "command_id" not in after


def test_text_lines_name_the_run_when_the_message_does_not(
    written: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, handler = written
    handler.setFormatter(logs.TextFormatter())
    with logs.bound(run_id="r9"):
        logger.info("run r9: done")
        logger.info("waiting")
    done, waiting = out.getvalue().splitlines()
    assert done.endswith("tests.observe: run r9: done")
    assert waiting.endswith("tests.observe: waiting [run_id=r9]")


def test_a_span_continues_the_trace_a_message_came_with_and_passes_it_on() -> None:
    assert tracing.inject({"Nats-Msg-Id": "x"}) == {"Nats-Msg-Id": "x"}  # no trace, no header
    with tracing.span("crud create", {"traceparent": PARENT}):
        passed = tracing.inject({"Nats-Msg-Id": "x"})
        assert tracing.trace_id() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert passed["Nats-Msg-Id"] == "x"
    assert passed["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert tracing.trace_id() is None


def test_without_an_exporter_each_span_still_has_its_own_place_in_the_trace() -> None:
    # No OTLP endpoint: nothing is recorded, but a service's span still shows in its logs and headers as its own.
    with tracing.span("crud create", {"traceparent": PARENT}):
        first = tracing.inject()["traceparent"].split("-")
        with tracing.span("inner"):
            inner = tracing.inject()["traceparent"].split("-")
    with tracing.span("gateway chat.submit", {}):
        fresh = tracing.inject()["traceparent"].split("-")
    assert first[1] == inner[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert len({first[2], inner[2], PARENT.split("-")[2]}) == 3  # a span id of its own, not the sender's
    assert fresh[1] != first[1] and int(fresh[1], 16) and int(fresh[2], 16)  # `{}`: a new trace


def test_a_metrics_port_in_use_is_refused_with_the_port_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsUnavailable, match=f"127.0.0.1:{port}"):
            serve_metrics("127.0.0.1", port)
