"""`POST /agui`: AG-UI's HTTP transport. A `RunAgentInput` becomes the same chat run as /ws (the worker
queue, crud's commands, approvals), answered with its events as `text/event-stream`, one per `data:` line.

The stream is one AG-UI run whatever happens on the bus: it opens with the gateway's own RUN_STARTED
(with `protocolVersion`), so a run stopped before any worker took it still starts; a run redelivered to
another worker (its first died) is not started twice: what the first attempt left open is closed, and the
new attempt's message and tool-call ids are made distinct. A Stop (or the worker's cancel) ends it with
RUN_FINISHED and the `cancelled` outcome; a client that goes stops the run. ghostbus's extras go as CUSTOM
events named `ghostbus.*`: the rendered HTML of a finished message, a status line, a question waiting for
approval (answered in any tab, or over the JSON API)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    CustomEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageEndEvent,
    ToolCallEndEvent,
)
from ag_ui.encoder import EventEncoder
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proto import subjects
from proto.commands import Identifier
from proto.events import EventType
from proto.messages import ConfirmationEvent, RunRequest
from services.gateway import runs, telemetry
from services.gateway.api import json_body
from services.gateway.events import EventStream
from services.gateway.relay import RunClock, RunRelay
from services.gateway.state import Gateway, gateway_of

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0  # an SSE comment this often while nothing else goes out, so proxies keep the stream
QUEUE = 1024
_identifier: TypeAdapter[str] = TypeAdapter(Identifier)
ENCODER = EventEncoder()
RENAMED = ("message_id", "tool_call_id", "parent_message_id")


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def last_user_text(given: RunAgentInput) -> str | None:
    """The text of the last user message (its text parts joined, when it has several)."""
    for message in reversed(given.messages):
        if message.role != "user":
            continue
        content: Any = getattr(message, "content", None)
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(str(getattr(part, "text", "")) for part in content if getattr(part, "type", "") == "text")
    return None


def run_request(body: dict[str, Any]) -> tuple[RunAgentInput, RunRequest] | str:
    """The client's input and the run it asks for, or why it cannot be run."""
    try:
        given = RunAgentInput.model_validate(body)
    except ValidationError as error:
        return f"not a RunAgentInput: {_reason(error)}"
    try:
        _identifier.validate_python(given.thread_id)
        _identifier.validate_python(given.run_id)
    except ValidationError:
        return "threadId and runId must be 1 to 64 letters, digits, '_' or '-'"
    text = last_user_text(given)
    if text is None:
        return "messages has no user message to answer"
    props = given.forwarded_props if isinstance(given.forwarded_props, dict) else {}
    model = props.get("model")
    try:
        request = RunRequest(
            run_id=given.run_id, thread_id=given.thread_id, text=text, model=model if isinstance(model, str) else None
        )
    except ValidationError as error:
        return f"cannot run this: {_reason(error)}"
    return given, request


class AguiSink:
    """Turns the bus's events of one run into one conforming AG-UI run, queued as SSE frames."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.frames: asyncio.Queue[str] = asyncio.Queue(QUEUE)
        self.attempt = 0
        self.open_messages: list[str] = []
        self.open_calls: list[str] = []
        self.ended = asyncio.Event()
        self.left = False

    def gone(self) -> None:
        """The client went: wake the stream so it ends (and stops the run)."""
        self.left = True
        with contextlib.suppress(asyncio.QueueFull):
            self.frames.put_nowait("")

    async def put(self, event: BaseEvent) -> None:
        if self.ended.is_set():
            return
        if event.timestamp is None:
            event = event.model_copy(update={"timestamp": int(time.time() * 1000)})
        await self.frames.put(ENCODER.encode(event))
        if event.type in (EventType.RUN_FINISHED, EventType.RUN_ERROR):
            self.ended.set()

    async def custom(self, name: str, value: Any) -> None:
        await self.put(CustomEvent(name=f"ghostbus.{name}", value=value))

    async def close_open(self) -> None:
        """End what an attempt left half-written (its worker died, or the run stopped mid-message)."""
        for call_id in self.open_calls:
            await self.put(ToolCallEndEvent(tool_call_id=call_id))
        for message_id in self.open_messages:
            await self.put(TextMessageEndEvent(message_id=message_id))
        self.open_calls, self.open_messages = [], []

    def renamed(self, value: str) -> str:
        return value if self.attempt <= 1 else f"{value}~{self.attempt}"

    async def event(self, event: Any, data: bytes) -> None:
        kind = event.type
        if kind == EventType.RUN_STARTED:
            self.attempt += 1
            if self.attempt > 1:
                await self.close_open()
                await self.custom("restarted", {"attempt": self.attempt})
            return
        if kind == EventType.RUN_FINISHED:
            await self.close_open()
            await self.put(RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, result=event.result))
            return
        if kind == EventType.RUN_ERROR:
            await self.close_open()
            if event.code == "cancelled":
                await self.custom("status", {"message": event.message})
                outcome = RunFinishedCancelledOutcome()
                await self.put(RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, outcome=outcome))
            else:
                await self.put(RunErrorEvent(message=event.message, code=event.code))
            return
        changes = {f: self.renamed(getattr(event, f)) for f in RENAMED if getattr(event, f, None)}
        event = event.model_copy(update=changes)
        if kind == EventType.TEXT_MESSAGE_START:
            self.open_messages.append(event.message_id)
        elif kind == EventType.TEXT_MESSAGE_END:
            with contextlib.suppress(ValueError):
                self.open_messages.remove(event.message_id)
        elif kind == EventType.TOOL_CALL_START:
            self.open_calls.append(event.tool_call_id)
        elif kind == EventType.TOOL_CALL_END:
            with contextlib.suppress(ValueError):
                self.open_calls.remove(event.tool_call_id)
        await self.put(event)

    async def rendered(self, message_id: str, html: str) -> None:
        await self.custom("rendered", {"messageId": self.renamed(message_id), "html": html})

    def confirmation(self, event: Any) -> None:
        """A UI event (from the hub): a question of this run waiting for approval goes out as a CUSTOM event."""
        if not isinstance(event, ConfirmationEvent) or event.confirmation.run_id != self.run_id or self.ended.is_set():
            return
        asked = event.confirmation
        value = {
            "callId": asked.call_id,
            "question": asked.question,
            "state": asked.state,
            "answer": f"/api/runs/{asked.run_id}/confirmations/{asked.call_id}",
        }
        with contextlib.suppress(asyncio.QueueFull):
            self.frames.put_nowait(ENCODER.encode(CustomEvent(name="ghostbus.confirmation", value=value)))


async def run_agent(request: Request) -> Response | EventStream:
    """POST a RunAgentInput; the run's AG-UI events come back as Server-Sent Events until it ends."""
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    parsed = run_request(body)
    if isinstance(parsed, str):
        return JSONResponse({"error": parsed}, status_code=422)
    given, run = parsed
    gateway = gateway_of(request)
    person = request.client.host if request.client else "unknown"
    if gateway.chat_limit.wait(person):
        return JSONResponse({"error": "Too many runs at once from here; wait a moment."}, status_code=429)
    gateway.chat_limit.add(person)
    sink = AguiSink(given.thread_id, given.run_id)
    with telemetry.submitting(run.run_id, run.thread_id):
        clock = RunClock(gateway.metrics, run.run_id)
        relay = RunRelay(run.run_id, sink, gateway.metrics, clock, gateway.settings.no_worker_s)
        try:
            await relay.subscribe(gateway.js)
            await runs.submit(gateway, run)
        except Exception as error:  # noqa: BLE001 - the bus is down or the queue is full
            with contextlib.suppress(Exception):
                await relay.sub.unsubscribe()
            log.warning("run_id=%s could not submit: %r", run.run_id, error)
            return JSONResponse({"error": "The chat is not available right now; try again in a moment."}, 503)
    started = RunStartedEvent(
        thread_id=given.thread_id, run_id=given.run_id, protocol_version=PROTOCOL_VERSION, input=given
    )
    frames = stream(gateway, relay, sink, ENCODER.encode(started))
    return EventStream(frames, on_disconnect=sink.gone, on_end=lambda: None)


async def stream(gateway: Gateway, relay: RunRelay, sink: AguiSink, first: str) -> AsyncGenerator[bytes, None]:
    """The run's frames until it ends; a client that goes first (or the gateway stopping) stops the run."""

    async def waiting(run_id: str) -> None:
        busy = await runs.workers_running(gateway.nc)
        await sink.custom("status", {"message": runs.BUSY if busy else runs.NO_WORKER})

    hub = gateway.hub
    if hub is not None:
        hub.watchers.add(sink.confirmation)
    follower = asyncio.create_task(relay.follow(waiting))
    try:
        yield first.encode()
        while not (sink.ended.is_set() and sink.frames.empty()):
            try:
                frame = await asyncio.wait_for(sink.frames.get(), KEEPALIVE_S)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if sink.left or gateway.closing.is_set():
                break
            yield frame.encode()
    finally:
        if hub is not None:
            hub.watchers.discard(sink.confirmation)
        if not relay.done.is_set():
            log.info("run_id=%s: the AG-UI client went before the run ended; stopping it", relay.run_id)
            with contextlib.suppress(Exception):
                await gateway.nc.publish(subjects.chat_cancel(relay.run_id), b"")
        relay.done.set()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def cancel(request: Request) -> Response:
    """`POST /api/runs/{run_id}/cancel`: Stop a run, whoever follows it (an /agui stream then ends with the
    `cancelled` outcome; a run no worker has taken yet is dropped when one does)."""
    try:
        run_id = _identifier.validate_python(request.path_params["run_id"])
    except ValidationError:
        return JSONResponse({"error": "not a run id"}, status_code=422)
    await gateway_of(request).nc.publish(subjects.chat_cancel(run_id), b"")
    return JSONResponse({"state": "stopping"}, status_code=202)
