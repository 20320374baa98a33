"""NATS locked down as deploy/nats configures it: the whole stack works with one user per service,
and a service connected with another's permissions is refused what is not its job."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
import websockets
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, ServiceConfig

from proto import subjects
from proto.bus import inbox_prefix
from proto.streams import create_streams, ensure_streams
from services.llm_worker.backends.embedded import model_path
from tests.deploy.natsconf import local_url, locked_down, violations
from tests.support.natsd import NatsServer
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    models = tmp_path_factory.getbasetemp() / "e2e-models"
    model_path(models)
    running = Stack(tmp_path_factory.mktemp("secure"), env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models)})
    running.secure = True
    running.start(workers=1)
    yield running
    running.stop()


async def test_the_stack_runs_a_chat_with_every_service_on_its_own_user(stack: Stack) -> None:
    async with websockets.connect(stack.url.replace("http://", "ws://") + "/ws") as ws:
        await ws.send(json.dumps({"type": "chat", "text": "add apples"}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 90))  # a loaded machine: the model is slow
            if message["type"] in ("RUN_FINISHED", "RUN_ERROR", "error"):
                break
    assert message["type"] == "RUN_FINISHED", message
    async with (
        httpx.AsyncClient(base_url=stack.url) as client,
        client.stream("GET", "/events", headers={"Last-Event-ID": "0"}, timeout=10) as events,
    ):
        async for line in events.aiter_lines():
            if line.startswith("data:"):
                assert "apples" in line
                break
        listed = await client.get("/api/tasks")
    assert [t["name"] for t in listed.json()] == ["apples"]
    assert stack.nats is not None
    assert violations(stack.nats.store_dir / "nats.log") == []


async def test_a_chat_command_and_a_second_tab_work_on_their_own_users(stack: Stack) -> None:
    """`!help` goes to a worker as a request (llm_worker.command) and the run is announced to the other tab
    of the conversation (chat.thread.*): both allowed by the locked-down permissions, nothing refused."""
    ws_url = stack.url.replace("http://", "ws://") + "/ws"
    thread = "locked" + "0" * 26
    async with websockets.connect(ws_url) as asking, websockets.connect(ws_url) as watching:
        for ws in (asking, watching):
            await ws.send(json.dumps({"type": "join", "threadId": thread}))
        await asking.send(json.dumps({"type": "ping-the-join"}))  # answered only after the join is handled
        assert json.loads(await asyncio.wait_for(asking.recv(), 10))["type"] == "error"
        await watching.send(json.dumps({"type": "ping-the-join"}))
        assert json.loads(await asyncio.wait_for(watching.recv(), 10))["type"] == "error"
        await asking.send(json.dumps({"type": "chat", "text": "!help", "threadId": thread}))
        seen = []
        while not seen or seen[-1]["type"] not in ("RUN_FINISHED", "RUN_ERROR", "error"):
            seen.append(json.loads(await asyncio.wait_for(watching.recv(), 30)))
    assert seen[0]["type"] == "run" and seen[0]["mirrored"] is True
    assert seen[-1]["type"] == "RUN_FINISHED"
    assert "Chat commands: !help" in "".join(f.get("delta", "") for f in seen)
    assert stack.nats is not None
    assert violations(stack.nats.store_dir / "nats.log") == []


async def connect_as(stack: Stack, user: str) -> tuple[Client, list[str]]:
    assert stack.nats is not None
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    url = local_url(stack.nats, user)
    nc = await nats.connect(url, error_cb=on_error, max_reconnect_attempts=0, inbox_prefix=inbox_prefix(user))
    return nc, errors


async def wait_for(errors: list[str], text: str) -> None:
    async with asyncio.timeout(5):
        while not any(text in e for e in errors):
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("user", "action", "subject"),
    [
        ("gateway", "publish", "ui.task.created"),
        ("gateway", "publish", "ui.notify"),
        ("gateway", "subscribe", "crud.>"),
        ("gateway", "subscribe", "crud.task.create"),
        ("gateway", "subscribe", "ui.>"),
        ("gateway", "subscribe", "chat.submit"),
        ("gateway", "publish", "chat.events.x"),
        ("gateway", "publish", "$JS.API.STREAM.PURGE.UI"),
        ("gateway", "publish", "$JS.API.STREAM.CREATE.SNOOP"),
        ("gateway", "publish", "$JS.API.CONSUMER.MSG.NEXT.CHAT_RUNS.llm_workers"),
        ("llm_worker", "publish", "ui.task.deleted"),
        ("llm_worker", "publish", "ui.notify"),
        ("llm_worker", "subscribe", "crud.>"),
        ("llm_worker", "subscribe", "crud.task.create"),
        ("llm_worker", "subscribe", "$SRV.PING.crud"),
        ("llm_worker", "publish", "chat.submit"),
        ("llm_worker", "publish", "$JS.API.STREAM.DELETE.UI"),
        ("llm_worker", "publish", "$JS.API.STREAM.UPDATE.SNOOP"),
        ("crud", "publish", "chat.submit"),
        ("crud", "publish", "chat.events.x"),
        ("crud", "subscribe", "$SRV.PING.llm_worker"),
    ],
)
async def test_a_service_is_refused_what_is_not_its_job(stack: Stack, user: str, action: str, subject: str) -> None:
    nc, errors = await connect_as(stack, user)
    try:
        if action == "publish":
            await nc.publish(subject, b"{}")
        else:
            await nc.subscribe(subject)
        await nc.flush()
        await wait_for(errors, "permissions violation")
        assert subject.lower() in " ".join(errors).lower()
    finally:
        await nc.close()


# nats-py leaves the socket of a refused connection for the garbage collector; collect it here so the
# warning is not reported against whichever test happens to run next.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_a_wrong_password_is_refused(stack: Stack) -> None:
    assert stack.nats is not None
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    url = f"nats://crud:wrong@127.0.0.1:{stack.nats.port}"
    with pytest.raises((nats.errors.Error, OSError)):
        async with asyncio.timeout(10):
            await nats.connect(url, allow_reconnect=False, connect_timeout=2, error_cb=on_error)
    assert any("authorization" in e.lower() for e in errors), errors
    gc.collect()


def test_compose_and_make_run_use_the_same_permissions(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent.parent / "deploy" / "nats"
    assert 'include "permissions.conf"' in (root / "server.conf").read_text()
    assert 'include "permissions.conf"' in (root / "local-users.conf").read_text()
    assert 'include "local-users.conf"' in (root / "local.conf").read_text()
    assert subjects.UI_ALL in (root / "permissions.conf").read_text()


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[NatsServer]:
    """A bare nats-server with the local users and permissions, no service running."""
    server = locked_down(tmp_path)
    server.start()
    yield server
    server.stop()


async def connect_user(server: NatsServer, user: str, errors: list[str]) -> Client:
    async def on_error(error: Exception) -> None:
        errors.append(f"{user}: {error}")

    url = local_url(server, user)
    return await nats.connect(url, error_cb=on_error, max_reconnect_attempts=0, inbox_prefix=inbox_prefix(user))


async def received(sub: Subscription, count: int) -> list[bytes]:
    """Up to `count` messages, five seconds each: a failure shows which of them arrived, not only a timeout."""
    got: list[bytes] = []
    with contextlib.suppress(TimeoutError):
        while len(got) < count:
            got.append((await sub.next_msg(timeout=5)).data)
    return got


async def test_each_service_user_can_do_its_own_job(locked: NatsServer) -> None:
    """Every NATS operation each service makes, done as its own user, with no refusal: the streams
    created by crud and found by the others, crud's endpoints answering (tasks, conversations, notices,
    approval questions), the workers answering the model picker and a person's answer, a run pulled and
    acknowledged, its events and the UI events read by the gateway through ordered consumers, a run
    cancelled, each service PINGed."""
    errors: list[str] = []
    crud, worker, gateway = [await connect_user(locked, user, errors) for user in ("crud", "llm_worker", "gateway")]
    try:
        # crud creates the streams; the gateway and the workers only find them there.
        assert await create_streams(crud.jetstream()) == []
        for nc in (worker, gateway):
            await ensure_streams(nc.jetstream(), wait_s=5)

        async def answer(request: Request) -> None:
            await request.respond(b'{"tasks": []}')

        endpoints = await add_service(
            crud, ServiceConfig(name=subjects.CRUD_SERVICE, version="0.0.0", queue_group=subjects.CRUD_QUEUE)
        )
        for name, subject in (
            ("list", subjects.TASK_LIST),
            ("create", subjects.crud_command(subjects.TASK_ENTITY, "create")),
            ("audit", subjects.AUDIT_LIST),
            ("recent", subjects.CONVERSATION_RECENT),
            ("begin", subjects.CONVERSATION_BEGIN),
            ("append", subjects.CONVERSATION_APPEND),
            ("notify", subjects.NOTIFY),
            ("ask", subjects.CONFIRMATION_ASK),
            ("settle", subjects.CONFIRMATION_SET),
            ("pending", subjects.CONFIRMATION_PENDING),
        ):
            await endpoints.add_endpoint(EndpointConfig(name=name, subject=subject, handler=answer))
        presence = await add_service(worker, ServiceConfig(name=subjects.WORKER_SERVICE, version="0.0.0"))

        async def reply(msg: Msg) -> None:
            await msg.respond(b'{"tasks": []}')

        # A worker answers the model picker, and a person's answer to a question it waits on.
        listing = await worker.subscribe(subjects.WORKER_MODELS, cb=reply)
        deciding = await worker.subscribe(subjects.chat_decide("r0"), cb=reply)
        for nc in (crud, worker):  # their subscriptions reach the server before anyone asks
            await nc.flush()

        # The gateway and the workers reach the database only through crud's endpoints.
        for nc, subject in (
            (gateway, subjects.TASK_LIST),
            (gateway, subjects.crud_command(subjects.TASK_ENTITY, "create")),
            (gateway, subjects.AUDIT_LIST),
            (gateway, subjects.CONVERSATION_RECENT),
            (worker, subjects.TASK_LIST),
            (worker, subjects.AUDIT_LIST),
            (worker, subjects.crud_command(subjects.TASK_ENTITY, "create")),
            (worker, subjects.CONVERSATION_RECENT),
            (worker, subjects.CONVERSATION_BEGIN),
            (worker, subjects.CONVERSATION_APPEND),
            (worker, subjects.NOTIFY),
            (worker, subjects.CONFIRMATION_ASK),
            (worker, subjects.CONFIRMATION_SET),
            (gateway, subjects.CONFIRMATION_PENDING),
            (gateway, subjects.WORKER_MODELS),
            (gateway, subjects.chat_decide("r0")),
        ):
            assert (await nc.request(subject, b"{}", timeout=5)).data == b'{"tasks": []}', subject
        for nc, service in (
            (gateway, subjects.CRUD_SERVICE),
            (gateway, subjects.WORKER_SERVICE),
            (crud, subjects.CRUD_SERVICE),  # their container health checks
            (worker, subjects.WORKER_SERVICE),
        ):
            await nc.request(subjects.service_ping(service), b"", timeout=5)

        # crud publishes a UI event through JetStream; the gateway reads it with an ordered consumer.
        gjs = gateway.jetstream()
        ui = await gjs.subscribe(subjects.UI_ALL, stream=subjects.UI_STREAM, ordered_consumer=True)
        await crud.jetstream().publish(subjects.ui_event(subjects.TASK_ENTITY, "created"), b"created")
        assert (await ui.next_msg(timeout=5)).data == b"created"
        assert (await gjs.stream_info(subjects.UI_STREAM)).state.messages == 1

        # The gateway submits a run; a worker pulls it from the work queue, works on it, acknowledges it.
        await gjs.publish(subjects.CHAT_SUBMIT, b"run", headers={"Nats-Msg-Id": "r1"})
        config = ConsumerConfig(durable_name=subjects.RUNS_CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=15)
        runs = await worker.jetstream().pull_subscribe(
            subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM, config=config
        )
        (run,) = await runs.fetch(1, timeout=5)
        cancels = await worker.subscribe(subjects.chat_cancel("r1"))
        await run.in_progress()
        await worker.flush()  # its subscription reaches the server before the gateway cancels

        # Its events (acknowledged by JetStream or not) reach the gateway live, and replaying the run from its first.
        live = await gateway.subscribe(subjects.run_events("r1"))
        await gateway.flush()  # the subscription is in place before the worker publishes
        await worker.jetstream().publish(subjects.run_event("r1", 1, 0), b"started")
        await worker.publish(subjects.run_event("r1", 1, 1), b"delta")
        assert await received(live, 2) == [b"started", b"delta"], errors
        events = await gjs.subscribe(
            subjects.run_events("r1"),
            stream=subjects.RUN_EVENTS_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        assert await received(events, 2) == [b"started", b"delta"], errors
        await gateway.publish(subjects.chat_cancel("r1"), b"")
        assert (await cancels.next_msg(timeout=5)).subject == subjects.chat_cancel("r1")
        await run.ack_sync(timeout=5)
        await runs.unsubscribe()
        for sub in (ui, events, live):
            await sub.unsubscribe()
        for sub in (listing, deciding):
            await sub.unsubscribe()
        await presence.stop()
        await endpoints.stop()
        for nc in (crud, worker, gateway):
            await nc.flush()
    finally:
        for nc in (crud, worker, gateway):
            await nc.close()
    assert errors == []
    assert violations(locked.store_dir / "nats.log") == []
