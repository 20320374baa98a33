"""`GET /events`: the UI stream as Server-Sent Events, each with `id:` = its JetStream sequence.

Task events come as the rendered list item (`event: task`, escaped on the server, keyed by
`id="task-<id>"`, with its version, position and kind as data attributes); notices as JSON. A browser
that reconnects sends `Last-Event-ID` and gets exactly what it missed, in order, from JetStream
itself. A cursor older than what the stream keeps gets a `reset` with the whole list. Each client
has a bounded queue: one that falls behind is disconnected and catches up by reconnecting, so a slow
browser never grows the gateway's memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from proto import subjects
from proto.codec import DecodeError, decode_ui_event
from proto.messages import TaskEvent, TaskPublic
from services.gateway.app import CrudError, Gateway, gateway_of

log = logging.getLogger(__name__)

PING_S = 15
_OVERFLOW = object()


def _cursor(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("after")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return -1
    return value if value >= 0 else -1


def fragment(gateway: Gateway, event: TaskEvent | None = None, task: TaskPublic | None = None) -> str:
    """A task as the list item the page shows, rendered (and escaped) here, on one line."""
    template = gateway.templates.get_template("partials/task.html")
    shown = event.task if event else task
    html: str = template.render(task=shown, kind=event.kind if event else None, actor=event.actor if event else None)
    return html.replace("\n", "")


async def _reset(gateway: Gateway, seq: int) -> ServerSentEvent:
    tasks = await gateway.tasks()
    data = "".join(fragment(gateway, task=t) for t in tasks)
    return ServerSentEvent(data=data, event="reset", id=str(seq))


async def _stream(request: Request, gateway: Gateway, cursor: int | None) -> AsyncIterator[ServerSentEvent]:
    js = gateway.js
    info = await js.stream_info(subjects.UI_STREAM)
    first, last = int(info.state.first_seq), int(info.state.last_seq)
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=gateway.settings.sse_queue)
    if cursor is None:
        cursor = last
    elif cursor < 0 or cursor > last or (cursor + 1 < first and info.state.messages):
        # Unreadable, from another stream's life, or older than what the stream keeps: start afresh.
        yield await _reset(gateway, last)
        cursor = last

    async def deliver(msg: Msg) -> None:
        try:
            queue.put_nowait(msg)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(_OVERFLOW)

    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=cursor + 1)
    sub = await js.subscribe(
        subjects.UI_ALL, stream=subjects.UI_STREAM, cb=deliver, ordered_consumer=True, config=config
    )
    gateway.count("sse_clients")
    try:
        while True:
            item = await queue.get()
            if item is _OVERFLOW:
                log.info("SSE client fell behind by %d events; disconnecting it", gateway.settings.sse_queue)
                gateway.count("sse_clients_dropped_total")
                return
            msg: Msg = item
            try:
                event = decode_ui_event(msg.data)
            except DecodeError as error:
                log.error("skipping a malformed UI event: %s", error)
                continue
            seq = str(msg.metadata.sequence.stream)
            gateway.count("ui_events_relayed_total")
            if isinstance(event, TaskEvent):
                yield ServerSentEvent(data=fragment(gateway, event), event="task", id=seq)
            else:
                notice = json.dumps({"level": event.level, "text": event.text})
                yield ServerSentEvent(data=notice, event="notice", id=seq)
    finally:
        gateway.count("sse_clients", -1)
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def events(request: Request) -> Response:
    gateway = gateway_of(request)
    cursor = _cursor(request)

    async def guarded() -> AsyncIterator[ServerSentEvent]:
        try:
            async for item in _stream(request, gateway, cursor):
                yield item
        except CrudError as error:
            yield ServerSentEvent(data=str(error), event="failure")

    try:
        await gateway.js.stream_info(subjects.UI_STREAM)
    except Exception:  # noqa: BLE001 - NATS down: the browser retries
        return PlainTextResponse("The event stream is not available right now.", status_code=503)
    return EventSourceResponse(guarded(), ping=PING_S, headers={"Cache-Control": "no-store"})
