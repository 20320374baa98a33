"""`/ws`: the chat socket. Runs go on the work queue; their events come back in order; mistakes are
answered in words."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from nats.aio.client import Client
from nats.aio.msg import Msg

from proto import subjects
from proto.codec import bundle, decode, encode, encode_text_delta
from proto.events import (
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
)
from proto.messages import RunRequest
from tests.support.natsd import NatsServer
from tests.support.run_events import RunEvents


def ws_url(gateway_url: str) -> str:
    return gateway_url.replace("http://", "ws://") + "/ws"


async def receive(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def test_another_site_cannot_open_the_chat(gateway_url: str) -> None:
    with pytest.raises(websockets.exceptions.WebSocketException):
        async with websockets.connect(ws_url(gateway_url), origin="http://evil.example") as ws:  # type: ignore[arg-type]
            await ws.recv()


async def test_mistakes_are_answered_in_words(gateway_url: str) -> None:
    origin = gateway_url
    async with websockets.connect(ws_url(gateway_url), origin=origin) as ws:  # type: ignore[arg-type]
        await ws.send("not json")
        assert "Unreadable" in (await receive(ws))["message"]
        await ws.send(json.dumps({"type": "chat", "text": "   "}))
        assert (await receive(ws))["message"] == "Type a message first."
        await ws.send(json.dumps({"type": "chat", "text": "x" * 4001}))
        assert "too long" in (await receive(ws))["message"]
        await ws.send(json.dumps({"type": "dance"}))
        assert "Unknown message type" in (await receive(ws))["message"]
        await ws.send(json.dumps({"type": "chat", "text": "y" * 20_000}))
        assert "too long" in (await receive(ws))["message"]
        await ws.send(json.dumps({"type": "chat", "text": 42}))
        assert (await receive(ws))["message"] == "A chat message must be text."


async def test_with_no_worker_the_person_is_told_within_two_seconds(gateway_url: str) -> None:
    async with websockets.connect(ws_url(gateway_url)) as ws:
        started = time.monotonic()
        await ws.send(json.dumps({"type": "chat", "text": "add apples"}))
        accepted = await receive(ws)
        assert accepted["type"] == "run"
        error = await receive(ws, timeout=3)
        assert error["type"] == "error" and "No model worker is running" in error["message"]
        assert time.monotonic() - started < 2.0


@contextlib.asynccontextmanager
async def chatting(gateway_url: str, nc: Client) -> AsyncIterator[tuple[Any, Msg, RunRequest]]:
    """A chat socket that sent "hello", and its run taken off the queue, as a worker takes it."""
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    async with websockets.connect(ws_url(gateway_url)) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "hello"}))
        run_id = (await receive(ws))["runId"]
        msg = (await queue.fetch(1, timeout=5))[0]
        request = decode(RunRequest, msg.data)
        assert request.run_id == run_id and request.text == "hello"
        yield ws, msg, request


async def test_a_run_s_events_are_relayed_in_order(gateway_url: str, nc: Client) -> None:
    js = nc.jetstream()
    async with chatting(gateway_url, nc) as (ws, msg, request):
        run_id = request.run_id
        # Acting as a worker: publish the run's events.
        run = RunEvents(js, run_id)
        tokens = ["Hel", "lo", "lo", " there"]
        events = [
            RunStartedEvent(thread_id=request.thread_id, run_id=run_id),
            TextMessageStartEvent(message_id="m", role="assistant"),
            *[TextMessageContentEvent(message_id="m", delta=t) for t in tokens],
            RunFinishedEvent(thread_id=request.thread_id, run_id=run_id, result={"model": "x"}),
        ]
        for event in events:
            await run.publish(event)
        await msg.ack()
        got = [await receive(ws) for _ in events]
    assert [g["type"] for g in got] == [e.type.value for e in events]
    assert all(g["runId"] == run_id for g in got)
    assert [g["delta"] for g in got if g["type"] == "TEXT_MESSAGE_CONTENT"] == tokens
    assert got[1]["messageId"] == "m"


async def test_events_a_busy_worker_sent_in_one_bus_message_come_in_one_frame_in_order(
    gateway_url: str, nc: Client
) -> None:
    async with chatting(gateway_url, nc) as (ws, msg, request):
        run_id = request.run_id
        run = RunEvents(nc.jetstream(), run_id)
        started = RunStartedEvent(thread_id=request.thread_id, run_id=run_id)
        opened = TextMessageStartEvent(message_id="m", role="assistant")
        await run.publish(bundle([encode(started), encode(opened), encode_text_delta("m", "Hel")]))
        await run.publish(TextMessageContentEvent(message_id="m", delta="lo"))
        ended = RunFinishedEvent(thread_id=request.thread_id, run_id=run_id, result={"model": "x"})
        closing = [encode_text_delta("m", " there"), encode(TextMessageEndEvent(message_id="m")), encode(ended)]
        await run.publish(bundle(closing))
        await msg.ack()
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    assert [type(f).__name__ for f in frames] == ["list", "dict", "list"]
    got = [*frames[0], frames[1], *frames[2]]
    assert [g["type"] for g in got] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "rendered",
        "RUN_FINISHED",
    ]
    assert all(g["runId"] == run_id for g in got)
    assert "".join(g.get("delta", "") for g in got) == "Hello there"
    assert got[6]["html"] == "<p>Hello there</p>\n"


async def first_word_on_a_run(url: str, timeout: float) -> tuple[str, dict[str, Any]]:
    """Send one chat message; its run id and the first thing the gateway says about it."""
    async with websockets.connect(ws_url(url)) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "add apples"}))
        run_id = (await receive(ws))["runId"]
        return run_id, await receive(ws, timeout=timeout)


BUSY = "Every model worker is busy; your message is next in line."


async def test_with_every_worker_busy_the_person_is_told_the_message_waits(gateway_url: str, nc: Client) -> None:
    from nats.micro import add_service
    from nats.micro.service import ServiceConfig

    # A worker that is present (answers PING) but never takes the run: as busy as a worker gets.
    busy = await add_service(nc, ServiceConfig(name=subjects.WORKER_SERVICE, version="0.1.0"))
    try:
        run_id, status = await first_word_on_a_run(gateway_url, timeout=3)
    finally:
        await busy.stop()
    assert status == {"type": "status", "runId": run_id, "message": BUSY}


async def test_a_worker_too_busy_to_answer_its_ping_is_still_busy_not_missing(gateway_url: str, nc: Client) -> None:
    # Present on the PING subject but answering nothing in time, as a worker with 1,000 runs at once.
    silent = await nc.subscribe(subjects.service_ping(subjects.WORKER_SERVICE))
    await nc.flush()
    try:
        run_id, status = await first_word_on_a_run(gateway_url, timeout=6)
    finally:
        await silent.unsubscribe()
    assert status == {"type": "status", "runId": run_id, "message": BUSY}


async def test_runs_waiting_at_once_ask_the_workers_once_and_each_person_is_told(gateway_url: str, nc: Client) -> None:
    # Many runs pass their wait for a worker together under load: one PING answers for all of them (every worker
    # answers each PING), and every person still hears that the message waits.
    pings: list[Msg] = []

    async def heard(msg: Msg) -> None:
        pings.append(msg)  # and no answer: workers too busy to say so in time

    silent = await nc.subscribe(subjects.service_ping(subjects.WORKER_SERVICE), cb=heard)
    await nc.flush()
    try:
        said = await asyncio.gather(*(first_word_on_a_run(gateway_url, timeout=6) for _ in range(4)))
    finally:
        await silent.unsubscribe()
    assert [status for _, status in said] == [
        {"type": "status", "runId": run_id, "message": BUSY} for run_id, _ in said
    ]
    assert len(pings) == 1


async def test_too_many_messages_are_refused_with_a_reason(gateway_url: str) -> None:
    async with websockets.connect(ws_url(gateway_url)) as ws:
        replies = []
        for n in range(6):
            await ws.send(json.dumps({"type": "chat", "text": f"hi {n}"}))
            replies.append(await receive(ws))
    assert [r["type"] for r in replies] == ["run"] * 5 + ["error"]
    assert "faster than the assistant can take them" in replies[-1]["message"]


async def test_a_new_socket_resumes_a_run_from_its_first_event(gateway_url: str, nc: Client) -> None:
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    async with websockets.connect(ws_url(gateway_url)) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "hello", "model": "tiny:1b"}))
        run_id = (await receive(ws))["runId"]
        msg = (await queue.fetch(1, timeout=5))[0]
        request = decode(RunRequest, msg.data)
        assert request.model == "tiny:1b"
        run = RunEvents(js, run_id)
        await run.publish(RunStartedEvent(thread_id=request.thread_id, run_id=run_id))
        await run.publish(TextMessageStartEvent(message_id="m", role="assistant"))
        await run.publish(TextMessageContentEvent(message_id="m", delta="half "))
        assert [(await receive(ws))["type"] for _ in range(3)][-1] == "TEXT_MESSAGE_CONTENT"
    # The page reloads: a new socket asks for the run and gets it from the start, then the rest live.
    async with websockets.connect(ws_url(gateway_url)) as ws:
        await ws.send(json.dumps({"type": "resume", "runId": run_id}))
        replayed = [await receive(ws) for _ in range(3)]
        await run.publish(TextMessageContentEvent(message_id="m", delta="written"))
        finished = RunFinishedEvent(thread_id=request.thread_id, run_id=run_id, result={"model": "tiny:1b"})
        await run.publish(finished)
        live = [await receive(ws) for _ in range(2)]
        await ws.send(json.dumps({"type": "resume", "runId": "../not an id"}))
        assert 'needs the "runId"' in (await receive(ws))["message"]
        await ws.send(json.dumps({"type": "chat", "text": "next", "model": "m" * 201}))
        assert (await receive(ws))["message"] == "That is not a model name."
    await msg.ack()
    assert [e["type"] for e in replayed + live] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "RUN_FINISHED",
    ]
    assert [e["delta"] for e in replayed + live if "delta" in e] == ["half ", "written"]
    assert all(e["runId"] == run_id for e in replayed + live)


async def test_the_model_list_comes_from_the_running_workers(gateway_url: str, nc: Client) -> None:
    import httpx
    from nats.micro import add_service
    from nats.micro.service import ServiceConfig

    async with httpx.AsyncClient(base_url=gateway_url) as client:
        assert (await client.get("/api/models")).json() == []
        workers = [
            await add_service(
                nc,
                ServiceConfig(name=subjects.WORKER_SERVICE, version="0.1.0", metadata={"backend": b, "model": m}),
            )
            for b, m in (("ollama", "qwen3:4b"), ("ollama", "qwen3:4b"), ("openai", "gpt-4o-mini"))
        ]
        # Their subscriptions reach the server before the gateway asks: on a busy machine this client may not
        # yet have sent the last one (a CI run saw the third worker unasked).
        await nc.flush()
        try:
            found = (await client.get("/api/models")).json()
        finally:
            for worker in workers:
                await worker.stop()
    # Services that answer PING but list no models (stand-ins here) still offer their defaults.
    assert found == [
        {"model": "gpt-4o-mini", "backend": "openai", "workers": 1, "default": True},
        {"model": "qwen3:4b", "backend": "ollama", "workers": 2, "default": True},
    ]


async def test_the_model_picker_lists_every_model_of_the_workers_backends(
    gateway_url: str, nats_server: NatsServer
) -> None:
    import httpx

    from services.llm_worker.config import Settings as WorkerSettings
    from services.llm_worker.worker import running
    from tests.support.fake_ollama import FakeOllama, serving

    fake = FakeOllama(["Hi."], model="qwen3:4b", more_models=["llama3.2:latest", "gemma3:1b"])
    async with serving(fake):
        settings = WorkerSettings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings), running(settings), httpx.AsyncClient(base_url=gateway_url) as client:
            found = (await client.get("/api/models")).json()
    # Ollama's "llama3.2:latest" is the "llama3.2" the workers are set to: one entry, their default.
    assert found == [
        {"model": "gemma3:1b", "backend": "ollama", "workers": 2, "default": False},
        {"model": "llama3.2:latest", "backend": "ollama", "workers": 2, "default": True},
        {"model": "qwen3:4b", "backend": "ollama", "workers": 2, "default": False},
    ]


async def test_a_run_under_way_survives_a_nats_server_restart(gateway_url: str, nats_server: NatsServer) -> None:
    import nats

    worker = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = worker.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    try:
        async with websockets.connect(ws_url(gateway_url)) as ws:
            await ws.send(json.dumps({"type": "chat", "text": "hello"}))
            run_id = (await receive(ws))["runId"]
            msg = (await queue.fetch(1, timeout=5))[0]
            request = decode(RunRequest, msg.data)
            run = RunEvents(js, run_id)
            await run.publish(RunStartedEvent(thread_id=request.thread_id, run_id=run_id))
            await run.publish(TextMessageStartEvent(message_id="m", role="assistant"))
            assert [(await receive(ws))["type"] for _ in range(2)] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
            nats_server.restart()
            await run.publish(TextMessageContentEvent(message_id="m", delta="still here"), retrying_s=20)
            finished = RunFinishedEvent(thread_id=request.thread_id, run_id=run_id, result={"model": "x"})
            await run.publish(finished)
            rest = [await receive(ws, timeout=15) for _ in range(2)]
    finally:
        await worker.close()
    assert [(e["type"], e.get("delta")) for e in rest] == [
        ("TEXT_MESSAGE_CONTENT", "still here"),
        ("RUN_FINISHED", None),
    ]


def test_the_run_id_is_spliced_into_the_worker_s_json_intact() -> None:
    from services.gateway.relay import with_run_id

    raw = json.dumps({"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": 'say "runId" }é'}).encode() + b"\n"
    assert json.loads(with_run_id(raw, "r-1_x")) == {
        "type": "TEXT_MESSAGE_CONTENT",
        "messageId": "m",
        "delta": 'say "runId" }é',
        "runId": "r-1_x",
    }
