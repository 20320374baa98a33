"""`/metrics` in Prometheus' text format, and logs that name the run."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
import websockets
from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from proto import subjects
from proto.codec import decode
from proto.events import RunFinishedEvent, RunStartedEvent, TextMessageContentEvent, TextMessageStartEvent
from proto.messages import RunRequest
from tests.gateway.test_chat import receive, ws_url
from tests.support.run_events import RunEvents


def samples(text: str) -> dict[str, float]:
    """Every sample of a Prometheus text exposition, as `name{label="value",...}` (labels sorted) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return out


async def figures(url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


async def test_runs_commands_and_events_are_counted_and_timed(
    gateway_url: str, nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services.gateway")
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    async with websockets.connect(ws_url(gateway_url)) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "hello"}))
        run_id = (await receive(ws))["runId"]
        msg = (await queue.fetch(1, timeout=5))[0]
        request = decode(RunRequest, msg.data)
        events = [
            RunStartedEvent(thread_id=request.thread_id, run_id=run_id),
            TextMessageStartEvent(message_id="m", role="assistant"),
            TextMessageContentEvent(message_id="m", delta="hi"),
            RunFinishedEvent(thread_id=request.thread_id, run_id=run_id, result={"model": "m1", "tokens_per_s": 9}),
        ]
        run = RunEvents(js, run_id)
        for event in events:
            await run.publish(event)
        await msg.ack()
        assert [(await receive(ws))["type"] for _ in events][-1] == "RUN_FINISHED"
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        assert (await client.post("/tasks", data={"name": "milk"}, headers={"HX-Request": "true"})).status_code == 200
    deadline = time.monotonic() + 5
    while (got := await figures(gateway_url))["ghostbus_gateway_ui_event_age_seconds_count"] < 1:
        assert time.monotonic() < deadline, "the task event never reached the gateway"
        await asyncio.sleep(0.02)
    for name in ("runs_submitted_total", "commands_total"):
        assert got[f"ghostbus_gateway_{name}"] >= 1, name
    assert got['ghostbus_gateway_runs_finished_total{model="m1"}'] == 1
    assert got['ghostbus_gateway_run_events_relayed_total{type="TEXT_MESSAGE_CONTENT"}'] == 1
    assert not [name for name in got if name.startswith("ghostbus_gateway_runs_failed_total")]
    assert got["process_resident_memory_bytes"] > 0
    for name in ("run_wait", "run_first_text", "run", "command", "ui_event_age"):
        assert got[f"ghostbus_gateway_{name}_seconds_count"] == 1, name
        assert got[f'ghostbus_gateway_{name}_seconds_bucket{{le="+Inf"}}'] == 1, name
        assert got[f"ghostbus_gateway_{name}_seconds_sum"] < 5, name
    logged = [r.getMessage() for r in caplog.records if f"run_id={run_id}" in r.getMessage()]
    assert any("submitted" in line for line in logged) and any("started after" in line for line in logged)
    assert any("finished in" in line and "model=m1" in line for line in logged), logged
