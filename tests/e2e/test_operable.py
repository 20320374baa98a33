"""The stack as processes, operated: each service's Prometheus metrics after a run, JSON log lines that name
the run, and one trace id for the run at the gateway, the worker and crud."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from nats.aio.client import Client
from nats.aio.msg import Msg
from prometheus_client.parser import text_string_to_metric_families

from proto import subjects
from proto.bus import close, connect
from tests.gateway.test_chat import receive, ws_url
from tests.gateway.test_metrics import samples
from tests.support.stack import Service, Stack, free_port

pytestmark = pytest.mark.slow

SCRIPTED = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "5", "LLM_SCRIPT_RATE": "0", "LLM_SCRIPT_COMMANDS": "1"}


@dataclass
class Operated:
    """A stack logging JSON, with crud's and the worker's metrics ports."""

    stack: Stack
    crud_port: int
    worker_port: int

    def service(self, name: str) -> Service:
        return next(s for s in self.stack.services if s.name == name)


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operated]:
    crud_port, worker_port = free_port(), free_port()
    stack = Stack(tmp_path_factory.mktemp("operated"), env={"LOG_FORMAT": "json", "CRUD_METRICS_PORT": str(crud_port)})
    try:
        stack.start(workers=1, worker_env=SCRIPTED | {"LLM_METRICS_PORT": str(worker_port)})
        yield Operated(stack, crud_port, worker_port)
    finally:
        stack.stop()


@pytest.fixture
async def bus(operated: Operated) -> AsyncIterator[Client]:
    assert operated.stack.nats is not None
    nc = await connect(operated.stack.nats.url, name="test")
    yield nc
    await close(nc)


async def chat(url: str, text: str) -> tuple[str, list[dict[str, Any]]]:
    """Send one chat message; the run's id and the frames of its events up to its end."""
    async with websockets.connect(ws_url(url)) as ws:
        await ws.send(json.dumps({"type": "chat", "text": text}))
        run_id = (await receive(ws))["runId"]
        frames = []
        while (frame := await receive(ws, timeout=30))["type"] not in ("RUN_FINISHED", "RUN_ERROR"):
            frames.append(frame)
        return run_id, [*frames, frame]


async def scrape(url: str) -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


async def until(url: str, ready: Callable[[dict[str, float]], bool]) -> dict[str, float]:
    """The metrics at `url` once `ready` holds for them (a figure may be counted just after the reply)."""
    deadline = time.monotonic() + 10
    while not ready(got := await scrape(url)):
        assert time.monotonic() < deadline, got
        await asyncio.sleep(0.05)
    return got


def json_lines(service: Service) -> list[dict[str, Any]]:
    """Every line the service wrote, each parsed as one JSON object (a line that is not one fails)."""
    out = []
    for line in service.output().splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            pytest.fail(f"{service.name} wrote a line that is not JSON: {line!r}")
        assert isinstance(value, dict), line
        out.append(value)
    return out


def traces_of(lines: list[dict[str, Any]], run_id: str) -> set[str]:
    return {line["trace_id"] for line in lines if line.get("run_id") == run_id and "trace_id" in line}


async def test_a_run_is_counted_logged_and_traced_by_every_service(operated: Operated, bus: Client) -> None:
    heard: list[Msg] = []

    async def capture(msg: Msg) -> None:
        heard.append(msg)

    create = subjects.crud_command(subjects.TASK_ENTITY, "create")
    for subject in (subjects.CHAT_SUBMIT, create):
        await bus.subscribe(subject, cb=capture)
    await bus.flush()

    run_id, frames = await chat(operated.stack.url, "add milk")
    assert frames[-1]["type"] == "RUN_FINISHED"

    # (a) Each service's metrics, in Prometheus' text format, with the run in them.
    crud = await until(
        f"http://127.0.0.1:{operated.crud_port}/metrics", lambda m: m.get("ghostbus_crud_outbox_backlog", 1) == 0
    )
    assert crud['ghostbus_crud_commands_total{op="create",outcome="ok"}'] == 1
    assert crud['ghostbus_crud_command_seconds_count{op="create"}'] == 1
    assert crud["ghostbus_crud_events_published_total"] >= 1
    worker = await until(
        f"http://127.0.0.1:{operated.worker_port}/metrics", lambda m: m["ghostbus_worker_run_seconds_count"] == 1
    )
    assert worker['ghostbus_worker_runs_total{backend="scripted",outcome="finished"}'] == 1
    assert worker['ghostbus_worker_tokens_total{backend="scripted"}'] == 5
    assert worker['ghostbus_worker_tokens_per_second_count{backend="scripted"}'] == 1
    assert worker["ghostbus_worker_queue_wait_seconds_count"] == 1
    assert worker["ghostbus_worker_runs_in_progress"] == 0
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{operated.worker_port}/metrics")).text
    assert "ghostbus_worker_model_errors" in {family.name for family in text_string_to_metric_families(text)}
    gateway = await scrape(operated.stack.url + "/metrics")
    assert gateway['ghostbus_gateway_runs_finished_total{model="scripted"}'] == 1
    assert gateway["ghostbus_gateway_runs_submitted_total"] == 1

    # (b) One JSON object per line from every service, the run's lines carrying its id.
    logs = {name: json_lines(operated.service(name)) for name in ("crud", "llm_worker0", "gateway")}
    for name, lines in logs.items():
        assert any(line.get("run_id") == run_id for line in lines), name
        assert all({"time", "level", "service", "logger", "message"} <= set(line) for line in lines), name
    command = f"{run_id}-1"
    assert any(line.get("command_id") == command and line.get("run_id") == run_id for line in logs["crud"])

    # (c) One trace: the same trace id in the three processes' lines and in the headers on the bus.
    trace_ids = {name: traces_of(lines, run_id) for name, lines in logs.items()}
    assert len(trace_ids["gateway"]) == 1, trace_ids
    trace_id = next(iter(trace_ids["gateway"]))
    assert trace_ids == {name: {trace_id} for name in logs}
    relayed = [line for line in logs["gateway"] if line.get("run_id") == run_id and "finished in" in line["message"]]
    assert relayed and relayed[0]["trace_id"] == trace_id
    submitted = [m for m in heard if m.subject == subjects.CHAT_SUBMIT]
    commanded = [m for m in heard if m.subject == create]
    assert submitted and commanded
    for msg in (*submitted, *commanded):
        version, traced, _span, _flags = (msg.headers or {})["traceparent"].split("-")
        assert (version, traced) == ("00", trace_id)


async def test_a_model_that_fails_is_counted_by_the_worker_and_the_gateway(operated: Operated) -> None:
    # A worker whose Ollama is not there (port 9 refuses) takes the next run instead of the scripted one.
    operated.service("llm_worker0").stop()
    failing_port = free_port()
    failing = operated.stack.spawn(
        "llm_worker_ollama",
        "services.llm_worker",
        {"LLM_BACKEND": "ollama", "LLM_STRATEGY": "inline", "LLM_METRICS_PORT": str(failing_port)},
    )
    failing.wait_for_line("llm_worker ready", 60)
    run_id, frames = await chat(operated.stack.url, "add bread")
    assert frames[-1]["type"] == "RUN_ERROR" and frames[-1]["code"] == "backend"
    worker = await scrape(f"http://127.0.0.1:{failing_port}/metrics")
    assert worker['ghostbus_worker_model_errors_total{backend="ollama"}'] == 1
    assert worker['ghostbus_worker_runs_total{backend="ollama",outcome="backend"}'] == 1
    gateway = await scrape(operated.stack.url + "/metrics")
    assert gateway['ghostbus_gateway_runs_failed_total{code="backend"}'] == 1
    warned = [line for line in json_lines(failing) if line.get("run_id") == run_id and line["level"] == "WARNING"]
    assert warned and "backend failed" in warned[0]["message"]
