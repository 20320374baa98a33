"""`POST /agui`: AG-UI's HTTP transport. A `RunAgentInput` becomes the same chat run as /ws (the worker
queue, crud's commands, approvals), answered with its events as `text/event-stream`, one per `data:` line.

The stream is one AG-UI run whatever happens on the bus (services/gateway/agui_sink.py): it opens with the
gateway's own RUN_STARTED (with `protocolVersion`), so a run stopped before any worker took it still
starts; a run redelivered to another worker is not started twice, and its new attempt's ids are distinct.
A Stop ends it with the `cancelled` outcome; a client that goes stops the run. A command waiting for
approval ends it with the `interrupt` outcome when the client declared a protocol version (the next POST
answers it in `resume` and continues the same bus run); for other clients it is a `ghostbus.confirmation`
CUSTOM event and the answer comes from any tab or the JSON API. ghostbus's other extras are CUSTOM events
too: `ghostbus.rendered` (a finished message's HTML), `ghostbus.status`, `ghostbus.restarted`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from ag_ui.core import PROTOCOL_VERSION, MessagesSnapshotEvent, RunAgentInput, RunStartedEvent
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proto import subjects
from proto.commands import Identifier
from proto.messages import Decision, RunRequest
from services.gateway import api, runs, telemetry
from services.gateway.agui_sink import ENCODER, AguiSink
from services.gateway.events import EventStream, Generated
from services.gateway.relay import RunClock, RunRelay
from services.gateway.state import Gateway, gateway_of

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0  # an SSE comment this often while nothing else goes out, so proxies keep the stream
_identifier: TypeAdapter[str] = TypeAdapter(Identifier)


@dataclass(frozen=True)
class Resume:
    """A run that answers an approval interrupt: the bus run it continues and the answer."""

    bus_run: str
    decision: Decision


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


def resumed(given: RunAgentInput) -> Resume | str:
    """The answer a resuming run gives (one approval interrupt), or why it cannot be taken."""
    entries = given.resume or []
    if len(entries) != 1:
        return "resume answers one interrupt at a time"
    entry = entries[0]
    bus_run, _, call_id = entry.interrupt_id.partition(".")
    payload = entry.payload
    approve = payload.get("approve") if isinstance(payload, dict) else payload
    if entry.status == "cancelled":
        approve = False
    if not isinstance(approve, bool):
        return 'an approval is answered with the payload {"approve": true} or {"approve": false}'
    try:
        return Resume(_identifier.validate_python(bus_run), Decision(call_id=call_id, approve=approve))
    except ValidationError:
        return f"no interrupt {entry.interrupt_id[:80]!r} was raised here"


def parse(body: dict[str, Any]) -> tuple[RunAgentInput, RunRequest | Resume] | str:
    """The client's input and the run it asks for (or the interrupt it answers), or why it cannot be run."""
    try:
        given = RunAgentInput.model_validate(body)
    except ValidationError as error:
        return f"not a RunAgentInput: {_reason(error)}"
    try:
        _identifier.validate_python(given.thread_id)
        _identifier.validate_python(given.run_id)
    except ValidationError:
        return "threadId and runId must be 1 to 64 letters, digits, '_' or '-'"
    if given.resume:
        answer = resumed(given)
        return answer if isinstance(answer, str) else (given, answer)
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


async def run_agent(request: Request) -> Response | EventStream:
    """POST a RunAgentInput; the run's AG-UI events come back as Server-Sent Events until it ends."""
    body = await api.json_body(request)
    if isinstance(body, Response):
        return body
    parsed = parse(body)
    if isinstance(parsed, str):
        return JSONResponse({"error": parsed}, status_code=422)
    given, run = parsed
    gateway = gateway_of(request)
    person = request.client.host if request.client else "unknown"
    if gateway.chat_limit.wait(person):
        return JSONResponse({"error": "Too many runs at once from here; wait a moment."}, status_code=429)
    gateway.chat_limit.add(person)
    if isinstance(run, Resume):
        return await resume(gateway, given, run)
    interrupts = given.protocol_version is not None
    sink = AguiSink(given.thread_id, given.run_id, run.run_id, interrupts=interrupts)
    with telemetry.submitting(run.run_id, run.thread_id):
        clock = RunClock(gateway.metrics, run.run_id)
        relay = RunRelay(run.run_id, sink, gateway.metrics, clock, gateway.settings.no_worker_s)
        try:
            await relay.subscribe(gateway.nc, gateway.js, gateway.live, stored=False)
            await runs.submit(gateway, run)
        except Exception as error:  # noqa: BLE001 - the bus is down or the queue is full
            with contextlib.suppress(Exception):
                await relay.close()
            log.warning("run_id=%s could not submit: %r", run.run_id, error)
            return JSONResponse({"error": "The chat is not available right now; try again in a moment."}, 503)
    return EventStream(Generated(stream(gateway, relay, sink, given), sink.gone))


async def resume(gateway: Gateway, given: RunAgentInput, run: Resume) -> Response | EventStream:
    """Answer the interrupt (as a tab's Approve or Reject would) and follow the same bus run from there."""
    answered = await api.answer(gateway, run.bus_run, run.decision)
    if answered.status_code >= 500:
        return answered  # the answer could not be given: nothing to follow
    # 409: answered already (in a tab), and the run goes on with that answer; unless nobody ever asked it.
    if answered.status_code not in (200, 409) or json.loads(bytes(answered.body)).get("state") == "gone":
        return JSONResponse({"error": "no such interrupt is waiting here"}, status_code=422)
    sink = AguiSink(given.thread_id, given.run_id, run.bus_run, interrupts=True, resume_after=run.decision.call_id)
    relay = RunRelay(run.bus_run, sink, gateway.metrics, None, gateway.settings.no_worker_s)
    try:
        await relay.subscribe(gateway.nc, gateway.js, gateway.live)
    except Exception as error:  # noqa: BLE001 - the bus is down
        log.warning("run_id=%s could not follow: %r", run.bus_run, error)
        return JSONResponse({"error": "The chat is not available right now; try again in a moment."}, 503)
    relay.started.set()  # it started long ago: no "waiting for a worker"
    return EventStream(Generated(stream(gateway, relay, sink, given), sink.gone))


async def stream(
    gateway: Gateway, relay: RunRelay, sink: AguiSink, given: RunAgentInput
) -> AsyncGenerator[bytes, None]:
    """The run's frames until it ends; a client that goes first (or the gateway stopping) stops the run,
    unless it ended waiting for an answer (an interrupt)."""
    started = RunStartedEvent(
        thread_id=given.thread_id, run_id=given.run_id, protocol_version=PROTOCOL_VERSION, input=given
    )
    first = [ENCODER.encode(started)]
    if given.resume and given.messages:
        # The conversation as the client holds it, so the answer's tool result refers to a known call.
        first.append(ENCODER.encode(MessagesSnapshotEvent(messages=given.messages)))

    async def waiting(run_id: str) -> None:
        busy = await runs.workers_running(gateway)
        await sink.custom("status", {"message": runs.BUSY if busy else runs.NO_WORKER})

    hub = gateway.hub
    if hub is not None:
        hub.watchers.add(sink.confirmation)
    follower = asyncio.create_task(relay.follow(waiting))
    try:
        for frame in first:
            yield frame.encode()
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
        if not relay.done.is_set() and not sink.interrupted:
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
