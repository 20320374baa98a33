"""A run followed live over core NATS: each event reaches the client once and in order, whatever the worker
publishes again, and whatever the live subscription missed is read from the stream (real nats-server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client

from proto.codec import bundle, encode
from proto.events import (
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
)
from proto.streams import ensure_streams
from services.gateway import relay as relay_module
from services.gateway.live import LiveRuns
from services.gateway.metrics import Metrics
from services.gateway.relay import RunRelay
from tests.support.run_events import RunEvents

RUN = "run-1"


class ListSink:
    """What the client would be shown: each event's type and, for text, the text (deltas that follow each other
    joined: a busy relay may send several as one), and how many frames carried text."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.text_frames = 0
        self.texting = False

    async def event(self, event: Any, data: bytes) -> None:
        if event.type.value == "TEXT_MESSAGE_CONTENT":
            self.text_frames += 1
            if self.texting:
                self.got[-1] += event.delta
            else:
                self.got.append(event.delta)
            self.texting = True
            return
        self.texting = False
        self.got.append(event.type.value)

    async def rendered(self, message_id: str, html: str) -> None:
        self.got.append(f"rendered {html.strip()}")


def started() -> RunStartedEvent:
    return RunStartedEvent(thread_id="t", run_id=RUN)


def text(delta: str) -> TextMessageContentEvent:
    return TextMessageContentEvent(message_id="m", delta=delta)


FINISHED = RunFinishedEvent(thread_id="t", run_id=RUN)
OPENED = TextMessageStartEvent(message_id="m", role="assistant")


@pytest.fixture
async def live(nc: Client) -> AsyncIterator[LiveRuns]:
    runs = LiveRuns()
    await runs.start(nc)
    yield runs
    await runs.stop()


async def following(
    nc: Client, live: LiveRuns, stored: bool, sink: ListSink | None = None, run_id: str = RUN
) -> tuple[RunRelay, ListSink, asyncio.Task[None]]:
    await ensure_streams(nc.jetstream())
    sink = sink or ListSink()
    relay = RunRelay(run_id, sink, Metrics(), None, no_worker_s=30)
    await relay.subscribe(nc, nc.jetstream(), live, stored=stored)

    async def waiting(run_id: str) -> None:
        raise AssertionError("the run was started")

    return relay, sink, asyncio.create_task(relay.follow(waiting))


async def test_events_published_again_and_a_given_up_attempt_reach_the_client_once(nc: Client, live: LiveRuns) -> None:
    relay, sink, follow = await following(nc, live, stored=False)
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
    assert sink.got == [*beginning, "ab", *beginning, "c", "RUN_FINISHED"]


async def test_a_gap_in_the_live_events_is_filled_from_the_stream_in_order(nc: Client, live: LiveRuns) -> None:
    run = RunEvents(nc.jetstream(), RUN)
    await run.publish_all(started(), OPENED, text("a"))  # stored before the relay listens: it hears none of them live
    relay, sink, follow = await following(nc, live, stored=False)
    await run.publish_all(text("b"), text("c"), FINISHED)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "abc", "RUN_FINISHED"]


async def test_a_run_whose_last_events_were_missed_is_read_from_the_stream_once_quiet(
    nc: Client, live: LiveRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "QUIET_S", 0.3)
    relay, sink, follow = await following(nc, live, stored=False)
    run = RunEvents(nc.jetstream(), RUN)
    await run.publish_all(started(), OPENED)
    while len(sink.got) < 2:
        await asyncio.sleep(0.01)
    # The live events miss the rest (as while a connection is down): no later event shows a gap.
    assert relay.unfollow is not None
    relay.unfollow()
    await run.publish_all(text("a"), FINISHED)
    await nc.flush()
    relay.unfollow = live.follow(RUN, relay._live)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "a", "RUN_FINISHED"]


async def test_a_late_follower_gets_the_run_from_its_first_event_then_live(nc: Client, live: LiveRuns) -> None:
    run = RunEvents(nc.jetstream(), RUN)
    await run.publish_all(started(), OPENED, text("a"))
    relay, sink, follow = await following(nc, live, stored=True)
    while len(sink.got) < 3:
        await asyncio.sleep(0.01)
    await run.publish_all(text("b"), FINISHED)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "ab", "RUN_FINISHED"]


class SlowSink(ListSink):
    """A client that takes its first text frame slowly (a socket whose buffer is full)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def event(self, event: Any, data: bytes) -> None:
        if event.type.value == "TEXT_MESSAGE_CONTENT" and not self.text_frames:
            await super().event(event, data)
            await self.gate.wait()
            return
        await super().event(event, data)


async def test_deltas_that_queue_behind_a_slow_client_go_out_merged_in_order(nc: Client, live: LiveRuns) -> None:
    sink = SlowSink()
    relay, _, follow = await following(nc, live, stored=False, sink=sink)
    run = RunEvents(nc.jetstream(), RUN)
    words = [f"w{n} " for n in range(40)]
    await run.publish_all(started(), OPENED, *(text(w) for w in words))
    await nc.flush()
    while len(relay.inbox) + relay.next < 2 + len(words):  # every delta has reached the relay
        await asyncio.sleep(0.01)
    sink.gate.set()
    await run.publish(FINISHED)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "".join(words), "RUN_FINISHED"]
    assert sink.text_frames == 2  # the first alone, all that waited behind it as one


async def test_a_relay_hears_only_its_own_run(nc: Client, live: LiveRuns) -> None:
    relay, sink, follow = await following(nc, live, stored=False)
    other = RunEvents(nc.jetstream(), "run-2")
    await other.publish_all(RunStartedEvent(thread_id="t", run_id="run-2"), OPENED, text("not mine"))
    run = RunEvents(nc.jetstream(), RUN)
    await run.publish_all(started(), OPENED, text("mine"), FINISHED)
    await asyncio.wait_for(follow, 5)
    assert sink.got == ["RUN_STARTED", "TEXT_MESSAGE_START", "mine", "RUN_FINISHED"]
    assert RUN not in live.followers  # the relay stopped following at the run's end


async def test_events_that_travel_in_one_bus_message_reach_the_client_one_by_one_live_and_replayed(
    nc: Client, live: LiveRuns
) -> None:
    # A busy worker sends the run's start with its first text, and the last text with the message's end and the
    # run's end (`codec.bundle`): each message holds one place, its events go on in order, and a tab that comes
    # late reads the same from the stream.
    relay, sink, follow = await following(nc, live, stored=False)
    run = RunEvents(nc.jetstream(), RUN)
    closed = TextMessageEndEvent(message_id="m")
    await run.publish(bundle([encode(started()), encode(OPENED), encode(text("a"))]))
    await run.publish(text("b"))
    await run.publish(bundle([encode(text("c")), encode(closed), encode(FINISHED)]))
    await asyncio.wait_for(follow, 5)
    shown = ["RUN_STARTED", "TEXT_MESSAGE_START", "abc", "TEXT_MESSAGE_END", "rendered <p>abc</p>", "RUN_FINISHED"]
    assert sink.got == shown
    _, late, again = await following(nc, live, stored=True)
    await asyncio.wait_for(again, 5)
    assert late.got == shown
