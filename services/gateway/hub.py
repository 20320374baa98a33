"""The UI stream, read once for the whole gateway and fanned out to every browser's bounded queue.

Each event is decoded and rendered once, into the SSE frame every browser receives (the bytes are
shared, not copied per browser). A browser that comes back with a cursor first joins the live
fan-out, then reads what it missed from JetStream up to the point where the fan-out took over, so
nothing falls between the two and nothing arrives twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from sse_starlette import ServerSentEvent

from proto import subjects
from proto.codec import DecodeError, decode_ui_event
from proto.messages import ConfirmationEvent, TaskEvent
from services.gateway.metrics import Metrics

log = logging.getLogger(__name__)

REPLAY_WAIT_S = 5.0
# The ordered consumer recreates itself after two missed heartbeats: with nats-py's default of 5 s,
# browsers saw nothing for 20 s after a nats-server restart; with 1 s, about 4 s.
HEARTBEAT_S = 1.0
REWIND_CHECK_S = 5.0  # how often to check that the stream has not been created anew


@dataclass(frozen=True, slots=True)
class Frame:
    """One UI event as the SSE bytes browsers receive, with its stream sequence."""

    seq: int
    data: bytes


REWOUND = Frame(-1, b"")
"""Queued in place of frames when the stream was created anew: the reader sends the whole list."""
PING = Frame(-2, b": ping\r\n\r\n")
"""A keep-alive comment, queued for every browser at once every PING_S seconds."""
PING_S = 15.0


class FellBehind(Exception):
    """A browser did not read its events as fast as they came; it is disconnected and replays."""


class Follower:
    """One browser's place in the fan-out: the frames offered and not yet read (at most `limit`), and whether
    it overflowed. A list and a future while it waits, not an asyncio.Queue: 10,000 browsers each held four
    deques of ~760 bytes through a queue, which was an eighth of what a browser cost the gateway."""

    __slots__ = ("frames", "read", "limit", "waiter", "behind", "closed")

    def __init__(self, limit: int) -> None:
        self.frames: list[Frame] = []  # those before `read` are read; cleared once all are
        self.read = 0
        self.limit = limit
        self.waiter: asyncio.Future[None] | None = None  # while the reader waits for a frame
        self.behind = False
        self.closed = False

    def offer(self, frame: Frame) -> None:
        if self.behind:
            return
        if len(self.frames) - self.read >= self.limit:
            # Not waiting (it has frames to read), so it sees the flag before its next read.
            self.behind = True
            return
        self.frames.append(frame)
        self._wake()

    def rewind(self) -> None:
        """The stream was created anew: what is queued is from the old one; ask for the whole list."""
        self.frames.clear()
        self.read = 0
        self.frames.append(REWOUND)
        self._wake()

    def close(self) -> None:
        """End the stream after the frame in hand (the gateway is stopping)."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def pending(self) -> list[Frame]:
        """The frames offered and not yet read (without reading them)."""
        return self.frames[self.read :]

    async def next(self) -> Frame | None:
        """The next frame; None once closed. A frame offered while it waited is read even if the reader fell
        behind meanwhile (as from a queue): it then ends after that frame, and comes back with its cursor."""
        if self.behind:
            raise FellBehind
        if self.closed:
            return None
        while self.read == len(self.frames):
            if self.closed:
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        frame = self.frames[self.read]
        self.read += 1
        if self.read == len(self.frames):
            self.frames.clear()
            self.read = 0
        return frame


Render = Callable[[TaskEvent | ConfirmationEvent], str]
"""A task or confirmation event as the HTML the page puts in place (rendered and escaped here)."""


class Hub:
    """One ordered consumer on the UI stream for the whole gateway; every browser follows it."""

    def __init__(
        self, js: JetStreamContext, render: Render, queue_limit: int, metrics: Metrics, closing: asyncio.Event
    ) -> None:
        self.js = js
        self.render = render
        self.queue_limit = queue_limit
        self.metrics = metrics
        self.followers: set[Follower] = set()
        self.seq = 0
        self.created: datetime | None = None  # when the stream followed was made: another one is new
        self.closing = closing  # set when the gateway starts to stop: every browser's stream ends
        self._sub: Any = None
        self._closer: asyncio.Task[None] | None = None
        # In-process listeners to each live UI event, decoded (the MCP server, an /agui stream): called
        # in order from the subscription's callback, so each must only note the event, never wait.
        self.watchers: set[Callable[[Any], None]] = set()

    async def start(self) -> None:
        info = await self.js.stream_info(subjects.UI_STREAM)
        await self._subscribe(int(info.state.last_seq), info.created)
        self._closer = asyncio.create_task(self._watch())

    async def _subscribe(self, after: int, created: datetime | None) -> None:
        self.seq, self.created = after, created
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
        self._sub = await self.js.subscribe(
            subjects.UI_ALL,
            stream=subjects.UI_STREAM,
            cb=self._deliver,
            ordered_consumer=True,
            config=config,
            idle_heartbeat=HEARTBEAT_S,
        )

    async def _watch(self) -> None:
        """Until the gateway starts to stop: a keep-alive ping for every browser every PING_S, and a
        check every REWIND_CHECK_S that the stream was not created anew; then every stream ends.

        uvicorn does not end an open response when it stops (it waits for each to end), so the streams
        end here the moment `closing` is set. The stream check asks NATS, which may be gone by then
        (nats-server stops with the gateway on Ctrl-C), so it runs beside this wait, never in it."""
        loop = asyncio.get_running_loop()
        pinged = checked = loop.time()
        check: asyncio.Task[None] | None = None
        while not self.closing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(min(pinged + PING_S, checked + REWIND_CHECK_S)):
                    await self.closing.wait()
            now = loop.time()
            if self.closing.is_set():
                break
            if now >= checked + REWIND_CHECK_S:
                checked = now
                if check is None or check.done():
                    check = asyncio.create_task(self._check_rewound())
            if now >= pinged + PING_S:
                # One timer for every browser rather than a timeout around each one's every read.
                pinged = now
                self._offer(PING)
        for follower in list(self.followers):
            follower.close()
        if check is not None and not check.done():
            check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await check

    async def _check_rewound(self) -> None:
        """Start over if the stream was deleted and created again (a nats-server that lost its store):
        it has another creation time, or ends before what was relayed. Every browser is sent the whole
        list, then follows on."""
        # What was relayed when the question is asked: the stream's answer counts at least that much unless
        # it was created anew. Events keep being relayed while the answer travels, so comparing it with
        # what has been relayed by the time it arrives saw a rewind in every burst.
        relayed, created = self.seq, self.created
        try:
            info = await self.js.stream_info(subjects.UI_STREAM)
            last = int(info.state.last_seq)
            if last >= relayed and info.created == created:
                return
            log.warning("the UI stream was created anew (now at %d, had relayed %d); starting over", last, relayed)
            old = self._sub
            try:
                await self._subscribe(last, info.created)
            except Exception:
                self.seq, self.created = relayed, created  # so the next check tries again
                raise
        except Exception as error:  # noqa: BLE001 - NATS away for now; checked again shortly
            log.info("could not check the UI stream: %r", error)
            return
        for follower in list(self.followers):
            follower.rewind()
        # Its consumer went with the old stream: deleting it can only time out.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.unsubscribe(), 1.0)

    async def stop(self) -> None:
        """Stop reading and end every browser's stream (they reconnect to the next gateway)."""
        self.closing.set()
        if self._closer is not None:
            await self._closer
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def last_seq(self) -> int:
        return (await self.bounds())[1]

    async def bounds(self) -> tuple[int, int]:
        """The first and last sequence the stream holds (first is last + 1 when it holds none)."""
        state = (await self.js.stream_info(subjects.UI_STREAM)).state
        return int(state.first_seq), int(state.last_seq)

    def frame(self, msg: Msg, live: bool = False, event: Any = None) -> Frame | None:
        """The SSE frame of one message of the UI stream (`event`: decoded already); None for one that is
        not a UI event."""
        seq = int(msg.metadata.sequence.stream)
        if event is None:
            event = self.decoded(msg)
        if event is None:
            return None
        if live:
            self.metrics.observe("ui_event_age_seconds", time.time() - event.at)
        if isinstance(event, TaskEvent):
            sse = ServerSentEvent(data=self.render(event), event="task", id=str(seq))
        elif isinstance(event, ConfirmationEvent):
            sse = ServerSentEvent(data=self.render(event), event="confirmation", id=str(seq))
        else:
            notice = json.dumps({"level": event.level, "text": event.text})
            sse = ServerSentEvent(data=notice, event="notice", id=str(seq))
        return Frame(seq, sse.encode())

    def decoded(self, msg: Msg) -> Any:
        try:
            return decode_ui_event(msg.data)
        except DecodeError as error:
            log.error("skipping malformed UI event %d: %s", int(msg.metadata.sequence.stream), error)
            return None

    async def _deliver(self, msg: Msg) -> None:
        seq = int(msg.metadata.sequence.stream)
        if seq <= self.seq:
            return
        self.seq = seq
        event = self.decoded(msg)
        if event is None:
            return
        for watcher in list(self.watchers):
            watcher(event)
        frame = self.frame(msg, live=True, event=event)
        if frame is None:
            return
        self._offer(frame)
        self.metrics.count("ui_events_relayed_total", len(self.followers))

    def _offer(self, frame: Frame) -> None:
        for follower in list(self.followers):
            if not follower.behind:
                follower.offer(frame)
                if follower.behind:
                    self.metrics.count("sse_clients_dropped_total")

    def join(self) -> tuple[Follower, int]:
        """A new follower of the fan-out, and the last sequence it will not be given (the caller
        replays up to there from JetStream)."""
        follower = Follower(self.queue_limit)
        if self.closing.is_set():
            follower.close()
        self.followers.add(follower)
        return follower, self.seq

    def leave(self, follower: Follower) -> None:
        self.followers.discard(follower)

    async def replay(self, after: int, upto: int) -> AsyncGenerator[Frame, None]:
        """The frames with sequences in (after, upto], read from JetStream, in order."""
        if after >= upto:
            return  # nothing missed: no consumer needed
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
        sub = await self.js.subscribe(subjects.UI_ALL, stream=subjects.UI_STREAM, ordered_consumer=True, config=config)
        try:
            while after < upto:
                msg = await sub.next_msg(timeout=REPLAY_WAIT_S)
                seq = int(msg.metadata.sequence.stream)
                if seq > after + 1:
                    # The stream dropped its oldest events while this one caught up: start it over.
                    raise FellBehind
                after = seq
                if after > upto:
                    return
                frame = self.frame(msg)
                if frame is not None:
                    yield frame
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
