"""The streams: crud creates them and never changes one; the gateway and the workers wait for them; the
admin step brings an older stream up to this version (more than nats-server's default 1,000 consumers: a
gateway follows every run in progress with a consumer of its own)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import nats
import pytest
from nats.js.api import StreamConfig

from proto import subjects
from proto.streams import (
    STREAMS,
    StreamsUnavailable,
    apply_streams,
    configs,
    create_streams,
    differences,
    ensure_streams,
)
from tests.support.natsd import NatsServer

EVENTS = next(s for s in STREAMS if s.name == subjects.RUN_EVENTS_STREAM)
UI = next(s for s in STREAMS if s.name == subjects.UI_STREAM)


async def test_more_than_a_thousand_runs_can_be_followed_at_once(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        # As an earlier version made it: no max_consumers, so the server's default of 1,000.
        await js.add_stream(StreamConfig(name=EVENTS.name, subjects=EVENTS.subjects, max_age=EVENTS.max_age))
        await apply_streams(js)
        follows = [
            await js.subscribe(subjects.run_events(f"run{n}"), stream=subjects.RUN_EVENTS_STREAM, ordered_consumer=True)
            for n in range(1_100)
        ]
        info = await js.stream_info(subjects.RUN_EVENTS_STREAM)
        assert info.state.consumer_count == len(follows) == 1_100
    finally:
        await nc.close()


async def test_crud_leaves_an_older_stream_as_it_is_and_says_what_differs(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await js.add_stream(dataclasses.replace(EVENTS, max_consumers=-1))
        (note,) = await create_streams(js)
        assert "CHAT_EVENTS stream differs" in note and "max_consumers -1 instead of 20000" in note
        assert "python -m proto.streams" in note
        assert (await js.stream_info(subjects.RUN_EVENTS_STREAM)).config.max_consumers == -1
        assert await create_streams(js) == [note]
    finally:
        await nc.close()


async def test_crud_refuses_to_start_on_a_sealed_stream(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await js.add_stream(UI)
        await js.update_stream(dataclasses.replace(UI, sealed=True))
        with pytest.raises(StreamsUnavailable, match="the UI stream cannot carry ghostbus's messages") as refused:
            await create_streams(js)
        assert "sealed" in str(refused.value) and "nats stream rm UI" in str(refused.value)
    finally:
        await nc.close()


async def test_the_others_wait_for_crud_to_create_the_streams(nats_server: NatsServer) -> None:
    waiter, creator = [await nats.connect(nats_server.url) for _ in range(2)]
    try:
        waiting = asyncio.ensure_future(ensure_streams(waiter.jetstream(), wait_s=10))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await create_streams(creator.jetstream())
        await asyncio.wait_for(waiting, 2)
    finally:
        for nc in (waiter, creator):
            await nc.close()


async def test_waiting_for_streams_nobody_creates_ends_with_the_reason(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    started = time.monotonic()
    try:
        with pytest.raises(StreamsUnavailable, match="CHAT_RUNS, CHAT_EVENTS, UI do not exist after 1 s.*crud"):
            await ensure_streams(nc.jetstream(), wait_s=1)
    finally:
        await nc.close()
    assert time.monotonic() - started < 3


def test_the_replicas_are_a_setting_and_a_stream_kept_on_fewer_servers_is_reported() -> None:
    three = configs(3)
    assert [c.num_replicas for c in three] == [3, 3, 3]
    assert [dataclasses.replace(c, num_replicas=None) for c in three] == [
        dataclasses.replace(c, num_replicas=None) for c in STREAMS
    ]
    single = dataclasses.replace(three[0], num_replicas=1)
    assert differences(single, three[0]) == ["num_replicas 1 instead of 3"]
