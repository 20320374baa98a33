"""No service's NATS user can change the streams: each JetStream call that would rewrite, seal, empty or
drop a stream, or drop another service's consumer, is tried on a real nats-server with each service's
credentials, and each is refused with the streams as they were. The admin user can do it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig, SubjectTransform

from proto import subjects
from proto.bus import inbox_prefix
from proto.streams import STREAMS, UI_MAX_MSGS, apply_streams, create_streams, ensure_streams
from tests.deploy.natsconf import USERS, local_url, locked_down, violations
from tests.support.natsd import NatsServer

UI = next(s for s in STREAMS if s.name == subjects.UI_STREAM)
BROWSER = "browser"  # a consumer of the gateway's on the UI stream

Call = Callable[[JetStreamContext], Awaitable[object]]
CALLS: dict[str, Call] = {
    "create a stream answering crud's requests": lambda js: js.add_stream(
        StreamConfig(name="SNOOP", subjects=[subjects.CRUD_ALL])
    ),
    "shrink the UI history to one event": lambda js: js.update_stream(dataclasses.replace(UI, max_msgs=1)),
    "forge UI events through a subject transform": lambda js: js.update_stream(
        dataclasses.replace(
            UI,
            subjects=[subjects.UI_ALL, "forged.>"],
            subject_transform=SubjectTransform(src="forged.>", dest="ui.task.>"),
        )
    ),
    "seal the UI stream": lambda js: js.update_stream(dataclasses.replace(UI, sealed=True)),
    "purge the UI stream": lambda js: js.purge_stream(subjects.UI_STREAM),
    "delete the UI stream": lambda js: js.delete_stream(subjects.UI_STREAM),
    "delete a UI event": lambda js: js.delete_msg(subjects.UI_STREAM, 1),
    "delete the run queue": lambda js: js.delete_stream(subjects.RUNS_STREAM),
}
# Each service's try at another's consumer: the workers' place in the run queue, the gateway's in the UI.
OTHERS_CONSUMER = {
    "crud": (subjects.RUNS_STREAM, subjects.RUNS_CONSUMER),
    "llm_worker": (subjects.UI_STREAM, BROWSER),
    "gateway": (subjects.RUNS_STREAM, subjects.RUNS_CONSUMER),
}


async def connect(server: NatsServer, user: str, errors: list[str]) -> Client:
    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    url = local_url(server, user)
    return await nats.connect(url, error_cb=on_error, max_reconnect_attempts=0, inbox_prefix=inbox_prefix(user))


async def set_up(server: NatsServer) -> None:
    """As the stack leaves it: crud made the streams and published an event, the workers joined the run
    queue, the gateway follows the UI stream."""
    errors: list[str] = []
    crud, worker = [await connect(server, user, errors) for user in ("crud", "llm_worker")]
    admin = await nats.connect(local_url(server, "admin"))
    try:
        assert await create_streams(crud.jetstream()) == []
        await crud.jetstream().publish(subjects.ui_event(subjects.TASK_ENTITY, "created"), b"{}")
        runs = ConsumerConfig(durable_name=subjects.RUNS_CONSUMER, ack_policy=AckPolicy.EXPLICIT)
        await worker.jetstream().add_consumer(subjects.RUNS_STREAM, runs)
        # The gateway's consumers are ephemeral (gone with its connection): a durable one stands for them.
        await admin.jetstream().add_consumer(subjects.UI_STREAM, ConsumerConfig(durable_name=BROWSER))
    finally:
        for nc in (crud, worker, admin):
            await nc.close()
    assert errors == []


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    running = locked_down(tmp_path)
    running.start()
    try:
        asyncio.run(set_up(running))
        yield running
    finally:
        running.stop()


async def state(server: NatsServer) -> dict[str, object]:
    """What the calls must leave alone, read as the admin user."""
    nc = await nats.connect(local_url(server, "admin"))
    try:
        js = nc.jetstream()
        ui = await js.stream_info(subjects.UI_STREAM)
        return {
            "streams": sorted(str(s.config.name) for s in await js.streams_info()),
            "ui": (ui.state.messages, ui.config.max_msgs, ui.config.sealed, ui.config.subjects),
            "consumers": sorted(
                [str(c.name) for c in await js.consumers_info(subjects.RUNS_STREAM)]
                + [str(c.name) for c in await js.consumers_info(subjects.UI_STREAM)]
            ),
        }
    finally:
        await nc.close()


AS_LEFT = {
    "streams": sorted(str(s.name) for s in STREAMS),
    "ui": (1, UI_MAX_MSGS, False, [subjects.UI_ALL]),
    "consumers": sorted([subjects.RUNS_CONSUMER, BROWSER]),
}


async def refused(server: NatsServer, user: str, call: Call) -> str:
    """Make the call as `user`; return the refusal nats-server sent (the call itself is never answered), in
    lower case as nats-py reports it."""
    errors: list[str] = []
    nc = await connect(server, user, errors)
    calling = asyncio.ensure_future(call(nc.jetstream()))
    try:
        async with asyncio.timeout(5):
            while not errors:
                await asyncio.sleep(0.01)
        assert not calling.done(), "a refused call gets no answer"
    finally:
        calling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await calling
        await nc.close()
    return " ".join(errors).lower()


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("what", CALLS)
async def test_no_service_may_change_a_stream(server: NatsServer, user: str, what: str) -> None:
    refusal = await refused(server, user, CALLS[what])
    assert 'permissions violation for publish to "$js.api.stream.' in refusal, refusal
    assert await state(server) == AS_LEFT


@pytest.mark.parametrize("user", USERS)
async def test_no_service_may_drop_another_s_consumer(server: NatsServer, user: str) -> None:
    stream, consumer = OTHERS_CONSUMER[user]
    refusal = await refused(server, user, lambda js: js.delete_consumer(stream, consumer))
    assert f"$JS.API.CONSUMER.DELETE.{stream}.{consumer}".lower() in refusal, refusal
    assert await state(server) == AS_LEFT


@pytest.mark.parametrize("user", ["llm_worker", "gateway"])
async def test_only_crud_may_create_the_streams(server: NatsServer, user: str) -> None:
    refusal = await refused(server, user, lambda js: js.add_stream(UI))
    assert f"$JS.API.STREAM.CREATE.{subjects.UI_STREAM}".lower() in refusal, refusal
    # crud's create of a stream that exists with the same configuration changes nothing.
    errors: list[str] = []
    crud = await connect(server, "crud", errors)
    try:
        assert await create_streams(crud.jetstream()) == []
    finally:
        await crud.close()
    assert errors == [] and await state(server) == AS_LEFT


async def test_the_admin_step_changes_what_no_service_may(tmp_path: Path) -> None:
    """`python -m proto.streams` as the admin user brings an older stream up to date; then every service
    finds the streams as they are, with no refusal logged."""
    server = locked_down(tmp_path)
    server.start()
    try:
        admin = await nats.connect(local_url(server, "admin"))
        try:
            await admin.jetstream().add_stream(dataclasses.replace(UI, max_consumers=-1))
            done = await apply_streams(admin.jetstream())
        finally:
            await admin.close()
        assert done[subjects.UI_STREAM].startswith("updated (max_consumers -1 instead of 20000")
        assert {done[subjects.RUNS_STREAM], done[subjects.RUN_EVENTS_STREAM]} == {"created"}
        errors: list[str] = []
        for user in USERS:
            nc = await connect(server, user, errors)
            try:
                await ensure_streams(nc.jetstream(), wait_s=5)
            finally:
                await nc.close()
        assert errors == []
    finally:
        server.stop()
    assert violations(server.store_dir / "nats.log") == []
