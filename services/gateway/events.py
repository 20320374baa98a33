"""`GET /events`: the UI stream as Server-Sent Events, each with `id:` = its JetStream sequence.

Task events come as the rendered list item (`event: task`, escaped on the server, keyed by
`id="task-<id>"`, with its version, position and kind as data attributes); notices as JSON. A browser
that reconnects sends `Last-Event-ID` and gets exactly what it missed, in order, from JetStream
itself. A cursor older than what the stream keeps gets a `reset` with the whole list. Each client
has a bounded queue: one that falls behind is disconnected and catches up by reconnecting, so a slow
browser never grows the gateway's memory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from nats.errors import Error as NatsError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from services.gateway.app import CrudError, Gateway, gateway_of
from services.gateway.hub import FellBehind, Hub

log = logging.getLogger(__name__)

PING_S = 15
PING = b": ping\r\n\r\n"
SHUTDOWN_GRACE_S = 1.0  # for a stream busy sending to end by itself when the server stops


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
    tasks = await gateway.tasks()
    data = "".join(gateway.render_item(t) for t in tasks)
    return ServerSentEvent(data=data, event="reset", id=str(seq)).encode()


async def _stream(gateway: Gateway, hub: Hub, cursor: int | None) -> AsyncIterator[bytes]:
    # Join the live fan-out before looking back, so an event published meanwhile is queued, not lost.
    async with hub.follow() as (follower, head):
        first, last = await hub.bounds()
        if cursor is None:
            cursor = head
        elif cursor < 0 or cursor > last or cursor + 1 < first:
            # Unreadable, from another stream's life, or older than what the stream keeps: the whole
            # list, as of `head` (crud commits before it publishes, so the list holds every event up to it).
            yield await _reset(gateway, head)
            cursor = head
        try:
            async for frame in hub.replay(cursor, head):
                cursor = frame.seq
                yield frame.data
            cursor = max(cursor, head)
            while True:
                try:
                    # The keep-alive comes from here rather than a task of its own per browser.
                    async with asyncio.timeout(PING_S):
                        live = await follower.next()
                except TimeoutError:
                    yield PING
                    continue
                if live is None:
                    return
                if live.seq > cursor:
                    cursor = live.seq
                    yield live.data
        except FellBehind:
            # It reconnects with its cursor and catches up by replay (or a reset).
            log.info("an SSE client fell behind (at %d); disconnecting it", cursor)


async def events(request: Request) -> Response:
    gateway = gateway_of(request)
    hub = gateway.hub
    if hub is None or not gateway.nc.is_connected:
        return PlainTextResponse("The event stream is not available right now.", status_code=503)
    cursor = _cursor(request)

    async def guarded() -> AsyncIterator[bytes]:
        try:
            async for item in _stream(gateway, hub, cursor):
                yield item
        except CrudError as error:
            yield ServerSentEvent(data=str(error), event="failure").encode()
        except (TimeoutError, NatsError) as error:
            # The browser reconnects with its cursor; nothing is lost by ending here.
            log.warning("an SSE stream ended early: %r", error)

    return EventSourceResponse(
        guarded(),
        ping=0,
        headers={"Cache-Control": "no-store"},
        shutdown_event=hub.closing,
        shutdown_grace_period=SHUTDOWN_GRACE_S,
    )
