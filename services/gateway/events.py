"""`GET /events`: the UI stream as Server-Sent Events, each with `id:` = its JetStream sequence.

Task events come as the rendered list item (`event: task`, escaped on the server, keyed by
`id="task-<id>"`, with its version, position and kind as data attributes); notices as JSON. A browser
that reconnects sends `Last-Event-ID` and gets exactly what it missed, in order, from JetStream
itself. A cursor older than what the stream keeps gets a `reset` with the whole list. Each client
has a bounded queue: one that falls behind is disconnected and catches up by reconnecting, so a slow
browser never grows the gateway's memory.

sse-starlette encodes the frames; the response itself is this module's `EventStream`, one task per
browser besides the request's own, because sse-starlette's task group of four per browser doubled the
time to reach 10,000 browsers and cost 25 KB each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Protocol, TypeVar

from nats.errors import Error as NatsError
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from proto.crud_client import CrudError
from proto.waiting import CalledOff, unless
from services.gateway.hub import PING, REWOUND, FellBehind, Follower, Hub
from services.gateway.state import Gateway, gateway_of

log = logging.getLogger(__name__)

T = TypeVar("T")

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # a proxy in front must not hold events back
]


Write = Callable[[bytes], Awaitable[None]]
"""Sends one chunk of the stream to the browser."""


class Source(Protocol):
    """What an `EventStream` sends: its chunks, written until they end; told when the browser leaves (so the
    chunks end too) and, however the stream ends, that it has."""

    async def produce(self, write: Write) -> None: ...

    def disconnected(self) -> None: ...

    def ended(self) -> None: ...


class Generated:
    """An async generator's chunks as a `Source`."""

    __slots__ = ("frames", "disconnected")

    def __init__(self, frames: AsyncGenerator[bytes, None], on_disconnect: Callable[[], None]) -> None:
        self.frames = frames
        self.disconnected = on_disconnect

    async def produce(self, write: Write) -> None:
        async with contextlib.aclosing(self.frames):  # its clean-up runs now, however this ends
            async for chunk in self.frames:
                await write(chunk)

    def ended(self) -> None:
        pass


class EventStream:
    """A `text/event-stream` response: the source's chunks as they come, until they end or the browser
    leaves (then the source is told, so that it ends too), and the source told it ended however it ends.

    It holds ten thousand open streams, so each costs what it must: one task besides the request's own (to
    hear the browser leave), and the source writes each chunk itself, with no async generator in between."""

    __slots__ = ("source", "send")

    def __init__(self, source: Source) -> None:
        self.source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            watcher = asyncio.create_task(self._watch(receive))
            self.send = send
            await self.source.produce(self._write)
            await send({"type": "http.response.body", "body": b""})
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            self.source.ended()

    async def _write(self, chunk: bytes) -> None:
        await self.send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.source.disconnected()


def _cursor(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("after")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return -1
    return value if value >= 0 else -1


async def _reset(gateway: Gateway, seq: int) -> bytes:
    tasks = await gateway.crud.tasks()
    data = "".join(gateway.render_item(t) for t in tasks)
    return ServerSentEvent(data=data, event="reset", id=str(seq)).encode()


class Reader:
    """One browser reading the stream: its place in the fan-out, where the fan-out took it up, and the
    cursor it came back with (a `Source` of its `EventStream`)."""

    __slots__ = ("gateway", "hub", "follower", "head", "cursor")

    def __init__(self, gateway: Gateway, hub: Hub, follower: Follower, head: int, cursor: int | None) -> None:
        self.gateway = gateway
        self.hub = hub
        self.follower = follower
        self.head = head
        self.cursor = cursor

    def disconnected(self) -> None:
        self.follower.close()

    def ended(self) -> None:
        self.hub.leave(self.follower)

    async def produce(self, write: Write) -> None:
        """A reset or the events missed, then the live ones (and pings), until the stream ends."""
        try:
            await self._catch_up(write)
            await self._follow(write)
        except FellBehind:
            # It reconnects with its cursor and catches up by replay (or a reset).
            log.info("an SSE client fell behind (queue of %d); disconnecting it", self.hub.queue_limit)
        except CrudError as error:
            await write(ServerSentEvent(data=str(error), event="failure").encode())
        except (TimeoutError, NatsError) as error:
            # The browser reconnects with its cursor; nothing is lost by ending here.
            log.warning("an SSE stream ended early: %r", error)
        except CalledOff:
            pass  # the gateway is stopping; the browser reconnects to the next one

    async def _unless_closing(self, step: Awaitable[T]) -> T:
        """One step of catching up (a request to NATS or crud), given up when the gateway starts to
        stop: NATS may be gone by then (Ctrl-C stops nats-server too), and the request would hold the
        shutdown until its timeout. Only catching up pays for this; live events are ended by the hub."""
        return await unless(step, self.hub.closing)

    async def _catch_up(self, write: Write) -> None:
        """A reset or the events missed up to where the fan-out took over; the cursor is then there."""
        head, cursor = self.head, self.cursor
        first, last = await self._unless_closing(self.hub.bounds())
        if cursor is None:
            cursor = head
        elif cursor < 0 or cursor > last or cursor + 1 < first:
            # Unreadable, from another stream's life, or older than what the stream keeps: the whole
            # list, as of `head` (crud commits before it publishes, so the list holds every event up to it).
            await write(await self._unless_closing(_reset(self.gateway, head)))
            cursor = head
        missed = self.hub.replay(cursor, head)
        async with contextlib.aclosing(missed):
            while (frame := await self._unless_closing(anext(missed, None))) is not None:
                cursor = frame.seq
                await write(frame.data)
        self.cursor = max(cursor, head)

    async def _follow(self, write: Write) -> None:
        cursor = self.cursor
        assert cursor is not None
        while (live := await self.follower.next()) is not None:
            if live is PING:
                await write(live.data)
            elif live is REWOUND:
                cursor = self.hub.seq
                await write(await _reset(self.gateway, cursor))
            elif live.seq > cursor:
                cursor = live.seq
                await write(live.data)


async def events(request: Request) -> Response | EventStream:
    gateway = gateway_of(request)
    hub = gateway.hub
    if hub is None or not gateway.connected:
        return PlainTextResponse("The event stream is not available right now.", status_code=503)
    # Join the live fan-out before looking back, so an event published meanwhile is queued, not lost.
    follower, head = hub.join()
    return EventStream(Reader(gateway, hub, follower, head, _cursor(request)))
