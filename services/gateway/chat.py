"""`/ws`: the chat. A message becomes a run on the work queue; the run's AG-UI events come back as they
are published, in order, until the run ends.

Browser → gateway: `{"type": "chat", "text": "...", "threadId"?: "...", "model"?: "..."}` (the
conversation to continue, and the model to ask), `{"type": "cancel", "runId": "..."}`, and
`{"type": "resume", "runId": "..."}` after a reload or a reconnect: the run's events are replayed
from its first (the page rebuilds the answer from RUN_STARTED on), then follow live; and
`{"type": "join", "threadId": "..."}` as a socket opens: the conversation it shows, so a run started in
another tab of it (on any gateway) is shown here too, followed from its first event.
Gateway → browser: `{"type": "run", "runId": ..., "text": ...}` when a run is accepted (with
`"mirrored": true` when another tab started it); then each run
event as one AG-UI JSON object (`{"type": "TEXT_MESSAGE_CONTENT", "messageId": ..., "delta": ...}`)
with the run's `runId` added (events due at once under load: one frame, a JSON array of them, in order);
`{"type": "error", "message": ..., "runId"?: ...}` for the person,
never a stack trace. Our own messages are lower case, AG-UI's upper case."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from proto import subjects
from proto.messages import MAX_CHAT, RunRequest
from services.gateway import runs, telemetry
from services.gateway.relay import RunClock, RunRelay, SocketSink
from services.gateway.runs import BUSY, NO_WORKER
from services.gateway.state import Gateway, gateway_of

log = logging.getLogger(__name__)

THREAD = RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_RUNS = 8  # runs one socket follows at once; each a RunRelay (live events, the stream read to catch up)


def origin_allowed(websocket: WebSocket, gateway: Gateway) -> bool:
    """Only pages served by this gateway may open the chat: the page's origin must be one of the gateway's
    own names (never judged by the Host header, which a DNS-rebinding page controls)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: scripts and tests
    return gateway.allowed_hosts.origin_allowed(origin)


class ChatConnection:
    """One browser's chat socket and the runs it started."""

    def __init__(self, websocket: WebSocket, gateway: Gateway) -> None:
        self.ws = websocket
        self.gateway = gateway
        self.thread_id = uuid.uuid4().hex
        self.id = uuid.uuid4().hex  # tells this socket's own runs from those other tabs announce
        self.joined: Subscription | None = None  # the conversation this socket shows (a `join`)
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()
        # The person behind the socket, as far as the gateway can tell: every socket from one address
        # shares its chat limit, so opening more sockets does not buy more messages.
        self.person = str(websocket.client.host) if websocket.client else "unknown"

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(json.dumps(message, ensure_ascii=False))

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_text(text)

    async def error(self, message: str, run_id: str | None = None) -> None:
        payload: dict[str, Any] = {"type": "error", "message": message}
        if run_id:
            payload["runId"] = run_id
        await self.send(payload)

    async def receive(self, raw: str) -> None:
        if len(raw.encode()) > self.gateway.settings.max_ws_message:
            await self.error(f"That message is too long (at most {MAX_CHAT} characters).")
            return
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.error('Unreadable message; send {"type": "chat", "text": "..."}.')
            return
        kind = message["type"]
        if kind == "chat":
            await self.chat_message(message)
        elif kind == "join":
            await self.join(message.get("threadId"))
        elif kind in ("cancel", "resume"):
            run_id = message.get("runId")
            if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
                await self.error(f'A {kind} needs the "runId" of an answer (letters, digits, "_" and "-").')
            elif kind == "cancel":
                await self.cancel(run_id)
            elif run_id not in self.runs:
                await self.follow(run_id)
        else:
            await self.error(f"Unknown message type {kind[:40]!r}.")

    async def join(self, thread: object) -> None:
        """Show this socket the conversation `thread`: every run another tab starts in it is followed here
        too, from its first event."""
        if not isinstance(thread, str) or not THREAD.fullmatch(thread):
            await self.error('A join needs the "threadId" of a conversation (letters, digits, "_" and "-").')
            return
        if self.joined is not None:
            with contextlib.suppress(Exception):
                await self.joined.unsubscribe()
            self.joined = None
        self.thread_id = thread
        try:
            self.joined = await self.gateway.nc.subscribe(subjects.chat_thread(thread), cb=self.mirror)
        except Exception as error:  # noqa: BLE001 - the chat still works in this tab alone
            log.warning("thread_id=%s could not be joined: %r", thread, error)

    async def announce(self, run_id: str, text: str) -> None:
        """Tell the other tabs of this conversation (on any gateway) of a run started here."""
        if self.joined is None:
            return
        note = {"runId": run_id, "text": text, "origin": self.id}
        with contextlib.suppress(Exception):
            await self.gateway.nc.publish(subjects.chat_thread(self.thread_id), json.dumps(note).encode())

    async def mirror(self, msg: Msg) -> None:
        """A run another tab of this conversation started: the message shown here, the answer followed."""
        try:
            note = json.loads(msg.data)
            run_id, text, origin = note["runId"], note["text"], note["origin"]
        except (ValueError, KeyError, TypeError):
            return
        if origin == self.id or not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or run_id in self.runs:
            return
        with contextlib.suppress(Exception):
            await self.send({"type": "run", "runId": run_id, "text": str(text), "mirrored": True})
            await self.follow(run_id)

    async def chat_message(self, message: dict[str, Any]) -> None:
        if "text" not in message:
            await self.error("The chat message's text is missing.")
            return
        limit = self.gateway.chat_limit
        if limit.wait(self.person):
            await self.error("You are sending messages faster than the assistant can take them; wait a moment.")
            return
        limit.add(self.person)
        thread = message.get("threadId")
        if isinstance(thread, str) and THREAD.fullmatch(thread):
            self.thread_id = thread
        model = message.get("model")
        await self.chat(message["text"], model if isinstance(model, str) and model else None)

    async def cancel(self, run_id: str) -> None:
        if run_id not in self.runs:
            await self.error("No answer with that runId is under way here.", run_id)
            return
        await self.gateway.nc.publish(subjects.chat_cancel(run_id), b"")

    async def chat(self, text: object, model: str | None = None) -> None:
        if len(self.runs) >= MAX_RUNS:
            await self.error("Wait for the answers under way (or stop one) before asking more.")
            return
        run_id = uuid.uuid4().hex
        try:
            request = RunRequest(run_id=run_id, thread_id=self.thread_id, text=text, model=model)  # type: ignore[arg-type]
        except ValidationError as error:
            problem = error.errors(include_url=False)[0]
            if problem["loc"] == ("model",):
                await self.error("That is not a model name.")
            elif problem["type"] == "string_too_long":
                await self.error(f"That message is too long (at most {MAX_CHAT} characters).")
            elif problem["type"] in ("string_too_short", "missing"):
                await self.error("Type a message first.")
            else:
                await self.error("A chat message must be text.")
            return
        # Subscribe before submitting, so not even the first event can slip by; in the run's trace, so
        # the relay's log lines carry it (nats-py calls back in a task made at subscribe).
        with telemetry.submitting(run_id, self.thread_id):
            relay = await self.subscribe(run_id, RunClock(self.gateway.metrics, run_id), stored=False)
            if relay is None:
                return
            try:
                await runs.submit(self.gateway, request)
            except Exception as error:  # noqa: BLE001 - the bus is down or the queue is full
                with contextlib.suppress(Exception):
                    await relay.close()
                log.warning("run_id=%s could not submit: %r", run_id, error)
                await self.error("The chat is not available right now; try again in a moment.")
                return
            await self.send({"type": "run", "runId": run_id, "text": request.text})
            self.start(relay)  # its events go out only now, after the browser has heard of the run
            await self.announce(run_id, request.text)

    async def follow(self, run_id: str) -> None:
        """Replay a run's events from its first and follow it (a reloaded page resuming its answer)."""
        if len(self.runs) >= MAX_RUNS:
            await self.error("Too many answers followed at once.", run_id)
            return
        relay = await self.subscribe(run_id, None, stored=True)
        if relay is not None:
            log.info("run_id=%s resumed by a browser", run_id)
            self.start(relay)

    async def subscribe(self, run_id: str, clock: RunClock | None, stored: bool) -> RunRelay | None:
        """A relay for the run, subscribed; `stored`: the run may be under way (its first events are read
        from the stream), not one about to be submitted."""
        sink = SocketSink(run_id, self.send_text)
        relay = RunRelay(run_id, sink, self.gateway.metrics, clock, self.gateway.settings.no_worker_s)
        try:
            await relay.subscribe(self.gateway.nc, self.gateway.js, self.gateway.live, stored)
        except Exception as error:  # noqa: BLE001 - the bus is down or refuses: tell the person, keep the socket
            log.warning("run_id=%s could not follow: %r", run_id, error)
            await self.error("The chat is not available right now; try again in a moment.")
            return None
        return relay

    def start(self, relay: RunRelay) -> None:
        task = asyncio.create_task(relay.follow(self.waiting))
        self.runs[relay.run_id] = task
        task.add_done_callback(lambda _: self.runs.pop(relay.run_id, None))

    async def waiting(self, run_id: str) -> None:
        """No worker has started the run in time: tell the person whether one is busy or none runs."""
        if await self.workers_running():
            log.info("run_id=%s waiting: every worker is busy", run_id)
            await self.send({"type": "status", "runId": run_id, "message": BUSY})
        else:
            log.warning("run_id=%s waiting: no worker is running", run_id)
            await self.error(NO_WORKER, run_id)

    async def workers_running(self) -> bool:
        return await runs.workers_running(self.gateway)

    async def close(self) -> None:
        if self.joined is not None:
            with contextlib.suppress(Exception):
                await self.joined.unsubscribe()
        for task in list(self.runs.values()):
            task.cancel()


async def chat_socket(websocket: WebSocket) -> None:
    gateway = gateway_of(websocket)
    if not origin_allowed(websocket, gateway):
        await websocket.close(code=1008, reason="cross-site chat is not allowed")
        return
    await websocket.accept()
    connection = ChatConnection(websocket, gateway)
    gateway.count("ws_clients")
    try:
        while (frame := await websocket.receive())["type"] != "websocket.disconnect":
            await receive_frame(connection, frame)
    except WebSocketDisconnect:
        pass
    finally:
        gateway.count("ws_clients", -1)
        await connection.close()


async def receive_frame(connection: ChatConnection, frame: Message) -> None:
    """One frame from the browser; whatever is wrong with it, the person hears why and the socket (and
    the runs it follows) stays."""
    text = frame.get("text")
    if text is None:
        await connection.error('Send text frames of JSON, such as {"type": "chat", "text": "..."}; not binary ones.')
        return
    try:
        await connection.receive(text)
    except WebSocketDisconnect:
        raise
    except Exception:  # noqa: BLE001 - a frame this code did not foresee must not end the person's chat
        log.exception("a chat frame could not be handled")
        await connection.error("That message could not be handled.")
