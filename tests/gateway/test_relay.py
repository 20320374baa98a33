"""A run followed live over core NATS: each event reaches the client once and in order, whatever the worker
publishes again, and whatever the live subscription missed is read from the stream (real nats-server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.aio.client import Client

from proto import subjects
from proto.events import (
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageStartEvent,
)
from proto.streams import ensure_streams
from services.gateway import relay as relay_module
from services.gateway.metrics import Metrics
from services.gateway.relay import RunRelay
from tests.support.run_events import RunEvents

RUN = "run-1"


class ListSink:
    """What the client would be sent: each event's type and, for text, its delta."""

    def __init__(self) -> None:
        self.got: list[str] = []

    async def event(self, event: Any, data: bytes) -> None:
        self.got.append(event.delta if event.type.value == "TEXT_MESSAGE_CONTENT" else event.type.value)

    async def rendered(self, message_id: str, html: str) -> None:
        self.got.append(f"rendered {html.strip()}")


def started() -> RunStartedEvent:
    return RunStartedEvent(thread_id="t", run_id=RUN)


def text(delta: str) -> TextMessageContentEvent:
    return TextMessageContentEvent(message_id="m", delta=delta)


FINISHED = RunFinishedEvent(thread_id="t", run_id=RUN)
OPENED = TextMessageStartEvent(message_id="m", role="assistant")


async def following(nc: Client, stored: bool) -> tuple[RunRelay, ListSink, asyncio.Task[None]]:
    await ensure_streams(nc.jetstream())
    sink = ListSink()
    relay = RunRelay(RUN, sink, Metrics(), None, no_worker_s=30)
    await relay.subscribe(nc, nc.jetstream(), stored=stored)

    async def waiting(run_id: str) -> None:
        raise AssertionError("the run was started")

    return relay, sink, asyncio.create_task(relay.follow(waiting))


async def test_events_published_again_and_a_given_up_attempt_reach_the_client_once(nc: Client) -> None:
    relay, sink, follow = await following(nc, stored=False)
    first = RunEvents(nc.jetstream(), RUN, attempt=1)
    await first.publish_all(started(), OPENED, text("a"))
    first.index = 0  # the worker lost an acknowledgement and publishes the attempt's events again
    await first.publish_all(started(), OPENED, text("a"), text("b"))
    second = RunEvents(nc.jetstream(), RUN, attempt=2)  # the run redelivered: it starts again
    await second.publish_all(started(), OPENED)
    await first.publish(text("late"))  # the first attempt's worker, not yet told it was given up
    await second.publish_all(text("c"), FINISHED)
    await asyncio.wait_for(follow, 5)
    beginning = ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert sink.got == [*beginning, "a", "b", *beginning, "c", "RUN_FINISHED"]


async def test_a_gap_in_the_live_events_is_filled_from_the_stream_in_order(nc: Client) -> None:
    run = RunEvents(nc.jetstream(), RUN)
    await run.publish_all(started(), OPENED, text("a"))  # stored before the relay listens: it hears none of them live
    relay, sink, follow = await following(nc, stored=False)
    await run.publish_all(text("b"), text("c"), FINISHED)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "a", "b", "c", "RUN_FINISHED"]


async def test_a_run_whose_last_events_were_missed_is_read_from_the_stream_once_quiet(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "QUIET_S", 0.3)
    relay, sink, follow = await following(nc, stored=False)
    run = RunEvents(nc.jetstream(), RUN)
    await run.publish_all(started(), OPENED)
    while len(sink.got) < 2:
        await asyncio.sleep(0.01)
    # The live subscription misses the rest (as while a connection is down): no later event shows a gap.
    await relay.sub.unsubscribe()
    await run.publish_all(text("a"), FINISHED)
    relay.sub = await nc.subscribe(subjects.run_events(RUN), cb=relay._live)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "a", "RUN_FINISHED"]


async def test_a_late_follower_gets_the_run_from_its_first_event_then_live(nc: Client) -> None:
    run = RunEvents(nc.jetstream(), RUN)
    await run.publish_all(started(), OPENED, text("a"))
    relay, sink, follow = await following(nc, stored=True)
    while len(sink.got) < 3:
        await asyncio.sleep(0.01)
    await run.publish_all(text("b"), FINISHED)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "a", "b", "RUN_FINISHED"]
