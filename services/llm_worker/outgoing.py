"""A run's events on their way into the CHAT_EVENTS stream: every one stored, in order, through the loss of a
NATS node (its connection moves to another node; a stream's leader is elected anew meanwhile).

Text deltas, and the events that start the run and open or close a text message (`passing`), are sent
without waiting for JetStream, but their acknowledgements are counted (`Acks`). One that JetStream refused
(no stream leader: "no responders"), or sent on a connection that has since died, or not acknowledged in
time may be missing from the stream, and a later one may not be: the page would show the answer with a
hole. Then the attempt's events so far are published again, from its RUN_STARTED on (the page and the
gateway rebuild the answer from each RUN_STARTED), until JetStream has acknowledged all of them. The other
events (tool calls, the run's end) are stored before the next one is sent, each with everything before it,
retried under one `Nats-Msg-Id` so an acknowledgement lost on the way does not store it twice.

Each event's subject carries its place, `chat.events.<run>.<attempt>.<index>` (`subjects.run_event`), the
same when it is published again: a gateway that follows the run live, over core NATS, drops what it has
already sent on and notices what it missed.

Under load, deltas are merged: while the run's last delta is not yet acknowledged, the next ones wait and go
out as one TEXT_MESSAGE_CONTENT when its acknowledgement comes, or after COALESCE_MAX_S at most. At rest a
token's acknowledgement is back long before the next token, so each delta goes out alone, at once. A worker
with many runs in hand holds each run's deltas a while (`hold_for`: longer the more runs) and sends what came
meanwhile as one: its acknowledgements come back quickly too, so the first rule alone sent nearly every token
on its own (a bus message, a stream write, an acknowledgement and a frame each: ~250 us of CPU a token over all
the processes with 100 runs at once, against ~120 us when held 100 ms; 500 runs at once, 150 ms against 100: 67 against
76 us a delivered token, added p99 166 against 121 ms). Such a worker holds the run's start and a
text message's start and end too, and sends them in one message with what comes next (`codec.bundle`): the run's
start with its first text, a text message's end with its last deltas and the run's end, stored together."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable

from nats.aio.client import NO_RESPONDERS_STATUS, Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import Header
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

from proto import subjects
from proto.codec import bundle, encode_text_delta

log = logging.getLogger(__name__)

DELTA_ACK_S = 10.0  # a delta not acknowledged by then is taken as lost (1,000 runs at once: p99 3 s)
EVENT_ACK_S = 2.0  # one try of storing any other event
PATIENCE_S = 60.0  # how long JetStream may not store a run's events (a cluster electing) before it fails
RETRY_S = 0.1
CHECK_S = 0.1  # while waiting for acknowledgements, how often to look whether the connection moved
COALESCE_MAX_S = 0.03  # the longest a delta waits behind one in flight (a reader at 50 tok/s sees 20 ms a token)
BUSY_RUNS = 32  # runs in a worker's hand from which its runs hold their deltas (`hold_for`)
HOLD_MIN_S = 0.04  # the hold from BUSY_RUNS on (two tokens at 50 tok/s), growing with the runs in hand ...
HOLD_PER_RUN_S = 0.0006  # ... by this a run (from 67) ...
HOLD_MAX_S = 0.15  # ... up to this (from 250: 7.5 tokens at 50 tok/s; a reader still sees 6-7 updates a second)
TICK_S = 0.01  # a held batch is due at the first tick of this grid after its time, with the others due then
UNSTORED = (NoRespondersError, NoStreamResponseError, NatsTimeout, ServiceUnavailableError, ConnectionError)


SWEEP_EVERY = 4096  # publishes between looks for acknowledgements given up on (a run that replayed)


class Acks:
    """JetStream's acknowledgements of a worker's run events, on one inbox subscription for the whole worker:
    each event is published with a reply subject of its own under it, and its future is done when JetStream
    answers (the answer's bytes) or fails with what JetStream said. Lighter per event than nats-py's
    `publish_async` (random bytes and a PubAck per acknowledgement) and `publish` (a request each)."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.prefix = f"{nc.new_inbox()}."
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self.count = 0
        self.sub: object | None = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(f"{self.prefix}*", cb=self._answered)

    async def publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> asyncio.Future[bytes]:
        """Publish `data` for the stream to store: the future is its acknowledgement (after `start`)."""
        assert self.sub is not None, "Acks.start() first: its subscription hears the acknowledgements"
        self.count += 1
        if self.count % SWEEP_EVERY == 0:
            self.pending = {token: future for token, future in self.pending.items() if not future.done()}
        token = f"{self.count:x}"
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[token] = future
        await self.nc.publish(subject, data, reply=self.prefix + token, headers=headers)
        return future

    async def _answered(self, msg: Msg) -> None:
        future = self.pending.pop(msg.subject[len(self.prefix) :], None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
            future.set_exception(NoStreamResponseError())  # no stream leader to store it
        elif b'"error"' in msg.data:
            try:
                error = json.loads(msg.data)["error"]
                future.set_exception(APIError.from_error(error))
            except (ValueError, KeyError, TypeError):
                future.set_exception(APIError(description=msg.data[:200].decode(errors="replace")))
        else:
            future.set_result(msg.data)


def hold_for(runs: int) -> float:
    """How long a run's first text delta waits for more to go out with it, with `runs` in the worker's hand: not
    at all with few, longer the more there are (the CPU a token costs falls with the tokens a message carries)."""
    return 0.0 if runs < BUSY_RUNS else min(HOLD_MAX_S, max(HOLD_MIN_S, runs * HOLD_PER_RUN_S))


def _looked_at(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


async def _settled(future: asyncio.Future[bytes], timeout_s: float) -> None:
    """Until `future` is done, however it ends (never raising its outcome), or `timeout_s` has passed."""
    if future.done():
        return
    waiter = asyncio.get_running_loop().create_future()

    def wake(_: object) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await waiter
    finally:
        future.remove_done_callback(wake)


class EventsLost(RuntimeError):
    """JetStream did not store the run's events for PATIENCE_S: the run fails (and is redelivered)."""


class Outgoing:
    """One attempt of one run: its events in the order they were published, and which are not yet
    known to be stored."""

    def __init__(
        self,
        acks: Acks,
        run_id: str,
        attempt: int,
        patience_s: float = PATIENCE_S,
        hold: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.acks = acks  # the worker's one subscription for the events' acknowledgements
        self.nc = acks.nc
        self.run_id = run_id
        self.attempt = attempt
        # Its own ids: a retry of this attempt's event is dropped as a duplicate, nothing of another's is.
        self.prefix = f"{run_id}-{attempt}-{uuid.uuid4().hex[:8]}"
        self.patience_s = patience_s
        self.hold = hold  # how long the worker's load has a delta wait for the next ones (0: not busy, `hold_for`)
        self.sent: list[bytes] = []
        self.replays = 0
        # Deltas sent, not yet acknowledged: (the connection's reconnect count when sent, when, its ack).
        self.unacked: deque[tuple[int, float, asyncio.Future[bytes]]] = deque()
        # Deltas waiting behind one in flight, to go out merged: (message id, the text so far).
        self.waiting: tuple[str, list[str]] | None = None
        # Events that go out in one message with the waiting deltas, before them (a busy worker's run start, a
        # text message's start and end, a merged delta closed by another event; `codec.bundle`).
        self.riding: list[bytes] = []
        self.sending = asyncio.Lock()  # one send at a time, so a merged delta never overtakes or is overtaken
        # The send of the waiting deltas, once due: when the delta in flight is acknowledged, or at the cap
        # (a timer). No task waits meanwhile: under load one waits behind nearly every delta.
        self.flusher: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.batches = 0  # how many times deltas began to wait: a due call for an earlier batch is ignored
        self.merged = 0  # deltas that went out inside another

    def _subject(self, index: int) -> str:
        """Where the attempt's event at `index` goes: the same subject each time it is published."""
        return subjects.run_event(self.run_id, self.attempt, index)

    @property
    def _connection(self) -> int:
        return int(self.nc.stats["reconnects"])

    async def text(self, message_id: str, delta: str) -> None:
        """A text delta: sent at once when nothing of the run is in flight and the worker is not busy, else merged
        with the next ones."""
        if self.waiting is not None and self.waiting[0] == message_id:
            self.waiting[1].append(delta)
            self.merged += 1
            return
        if self.waiting is not None:
            await self.flush()
        self._check_flusher()
        if self.riding:
            self.waiting = (message_id, [delta])  # with the events held already, when they are due
            return
        if (hold_s := self.hold()) > 0:
            self._hold(message_id, delta, hold_s)  # due at the timer only: the acknowledgement comes too soon
            return
        if self._in_flight():
            batch = self._hold(message_id, delta, COALESCE_MAX_S)
            self.unacked[-1][2].add_done_callback(lambda _: self._due(batch))
            return
        async with self.sending:
            await self._send_text(encode_text_delta(message_id, delta))

    def _hold(self, message_id: str | None, delta: str, wait_s: float) -> int:
        """Begin a batch of deltas (or, with no `message_id`, of events riding) to go out merged, due in `wait_s` at
        the latest; its number."""
        if message_id is not None:
            self.waiting = (message_id, [delta])
        self.batches += 1
        batch = self.batches
        loop = asyncio.get_running_loop()
        due = loop.time() + wait_s
        if wait_s >= HOLD_MIN_S:
            due += TICK_S - due % TICK_S  # on the worker's grid: the batches of its runs due in one tick go together
        self.timer = loop.call_at(due, self._due, batch)
        return batch

    def _in_flight(self) -> bool:
        return bool(self.unacked) and not self.unacked[-1][2].done()

    def _due(self, batch: int) -> None:
        """The waiting deltas (and the events riding) may go: the one in flight is acknowledged, or they have waited
        their time."""
        if batch != self.batches or (self.waiting is None and not self.riding):
            return
        flusher = self.flusher
        if flusher is not None:
            if not flusher.done():
                flusher.add_done_callback(lambda _: self._due(batch))  # an earlier send still going: then
                return
            if flusher.cancelled() or flusher.exception() is not None:
                return  # its failure is raised at the run's next delta or event
        self.flusher = asyncio.ensure_future(self.flush())
        # Its failure is raised at the run's next delta or event; a run that has none (its connection closed,
        # the worker stopping) must not leave it for asyncio to report as never retrieved.
        self.flusher.add_done_callback(_looked_at)

    def _check_flusher(self) -> None:
        """A merged delta that could not be stored fails the run here (at the next delta or event)."""
        if self.flusher is not None and self.flusher.done():
            flusher, self.flusher = self.flusher, None
            flusher.result()

    async def flush(self) -> None:
        """Send the deltas waiting to be merged and the events riding with them, if any (before any other event,
        and at the end)."""
        async with self.sending:
            if held := self._take_held():
                await self._send_text(bundle(held))

    def _take_held(self) -> list[bytes]:
        """The events riding and the waiting deltas merged, in order, no longer held (their timer stopped)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        held, self.riding = self.riding, []
        if self.waiting is not None:
            message_id, parts = self.waiting
            self.waiting = None
            held.append(encode_text_delta(message_id, "".join(parts)))
        return held

    async def _send_text(self, data: bytes) -> None:
        """Sent without waiting for JetStream; its acknowledgement is checked later."""
        self.sent.append(data)
        if self._lost():
            await self._replay()
            return
        try:
            future = await self.acks.publish(self._subject(len(self.sent) - 1), data)
        except UNSTORED:
            await self._replay()
            return
        self.unacked.append((self._connection, time.monotonic(), future))

    async def _deltas_out(self) -> None:
        """Every delta before the next event sent: a merged one on its way first (its failure is the run's),
        then those still waiting."""
        if self.flusher is not None:
            flusher, self.flusher = self.flusher, None
            await flusher
        await self.flush()

    async def passing(self, data: bytes) -> None:
        """An event sent like a delta, without waiting for JetStream, its acknowledgement counted: the run's start,
        a text message's start and end. Whatever is stored next (a tool call, the run's end) confirms it, and
        a loss publishes the attempt again from its start, as for a delta. A busy worker holds it like a delta,
        to go out in one message with what follows (the text, the run's end)."""
        hold_s = 0.0 if self.riding else self.hold()
        if (self.riding or hold_s > 0) and self.waiting is not None:
            # Held deltas (due at their timer): the event goes with them, after them.
            message_id, parts = self.waiting
            self.waiting = None
            self.riding.append(encode_text_delta(message_id, "".join(parts)))
        if self.riding:
            self.riding.append(data)
            return
        if hold_s > 0:
            self.riding.append(data)
            self._hold(None, "", hold_s)
            return
        await self._deltas_out()
        async with self.sending:
            await self._send_text(data)

    async def event(self, data: bytes) -> None:
        """Any other event: stored, with every delta before it, when this returns. A busy worker stores what it
        holds in the same message, before it."""
        if self.riding or self.hold() > 0:
            if self.flusher is not None:
                flusher, self.flusher = self.flusher, None
                await flusher
            async with self.sending:
                data = bundle([*self._take_held(), data])
        else:
            await self._deltas_out()
        self.sent.append(data)
        if not await self._confirmed():
            await self._replay()
            return
        await self._store(data, len(self.sent) - 1)

    def _lost(self) -> bool:
        """Whether a delta sent so far may be missing from the stream (those known stored are let go)."""
        while self.unacked:
            connection, at, future = self.unacked[0]
            if future.done():
                if future.cancelled() or future.exception() is not None:
                    return True
                self.unacked.popleft()
            elif connection != self._connection or time.monotonic() - at > DELTA_ACK_S:
                return True
            else:
                return False
        return False

    async def _confirmed(self) -> bool:
        """Wait until every delta sent is acknowledged; False as soon as one may be lost."""
        while True:
            if self._lost():
                return False
            if not self.unacked:
                return True
            await _settled(self.unacked[0][2], CHECK_S)

    async def _store(self, data: bytes, index: int, generation: int = 0) -> None:
        """Publish and wait for JetStream's acknowledgement, again and again for up to `patience_s`."""
        headers = {"Nats-Msg-Id": f"{self.prefix}-{generation}-{index}"}
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                future = await self.acks.publish(self._subject(index), data, headers)
                await _settled(future, EVENT_ACK_S)
                if not future.done():
                    future.cancel()
                    raise NatsTimeout
                future.result()  # what JetStream said, if it did not store it
                return
            except UNSTORED as error:
                if time.monotonic() > deadline:
                    raise EventsLost(
                        f"run {self.run_id}: JetStream stored none of its events for {self.patience_s:.0f} s "
                        f"({error.__class__.__name__})"
                    ) from None
                await asyncio.sleep(RETRY_S)

    async def _replay(self) -> None:
        """Publish the attempt's events again from its RUN_STARTED, until all of them are acknowledged."""
        deadline = time.monotonic() + self.patience_s
        while True:
            self.replays += 1
            for _, _, future in self.unacked:
                future.cancel()
            self.unacked.clear()
            log.warning(
                "run_id=%s some of its events may not have been stored (a NATS node gone?); publishing its %d "
                "events again from its start (replay %d)",
                self.run_id,
                len(self.sent),
                self.replays,
            )
            # Waits while no stream leader answers; under its own id, so a lost acknowledgement stores it once.
            await self._store(self.sent[0], 0, self.replays)
            try:
                for index, data in enumerate(self.sent[1:], 1):
                    future = await self.acks.publish(self._subject(index), data)
                    self.unacked.append((self._connection, time.monotonic(), future))
            except UNSTORED:
                pass
            else:
                if await self._confirmed():
                    log.info("run_id=%s its %d events are stored again", self.run_id, len(self.sent))
                    return
            if time.monotonic() > deadline:
                raise EventsLost(f"run {self.run_id}: its events could not be stored again in {self.patience_s} s")
