"""One bus run's events as one conforming AG-UI run: what /agui streams (see services/gateway/agui.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    Interrupt,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallEndEvent,
)
from ag_ui.encoder import EventEncoder

from proto.events import EventType
from proto.messages import Confirmation, ConfirmationEvent

QUEUE = 1024
ENCODER = EventEncoder()
RENAMED = ("message_id", "tool_call_id", "parent_message_id")
APPROVAL = {"type": "object", "properties": {"approve": {"type": "boolean"}}, "required": ["approve"]}
"""What an approval interrupt expects as the resume payload."""


def interrupt_id(run_id: str, call_id: str) -> str:
    """An approval interrupt's id: the bus run and the question ('.' is in neither id)."""
    return f"{run_id}.{call_id}"


class AguiSink:
    """Turns the bus's events of one run into one AG-UI run, queued as SSE frames.

    `run_id` is the AG-UI run (the client's); `bus_run` the chat run on the bus: the same, except for a run
    that resumes an interrupted one, which follows the bus run from just after the question's tool call
    (`resume_after`). With `interrupts` (the client declared a protocol version that has them), a question
    waiting for approval ends the run with the `interrupt` outcome; else it goes out as a CUSTOM event and
    the run waits for the answer (given in any tab, or over the JSON API)."""

    def __init__(
        self, thread_id: str, run_id: str, bus_run: str, interrupts: bool = False, resume_after: str | None = None
    ) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.bus_run = bus_run
        self.interrupts = interrupts
        self.resume_after = resume_after
        self.frames: asyncio.Queue[str] = asyncio.Queue(QUEUE)
        self.attempt = 0
        self.open_messages: list[str] = []
        self.open_calls: list[str] = []
        self.ended_calls: set[str] = set()
        self.asked: dict[str, Confirmation] = {}
        self.aliases: dict[str, str] = {}
        self.skipped_open: list[str] = []
        self.ended = asyncio.Event()
        self.interrupted = False
        self.left = False
        self._tasks: set[asyncio.Task[None]] = set()

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
        value = value if self.attempt <= 1 else f"{value}~{self.attempt}"
        return self.aliases.get(value, value)

    async def event(self, event: Any, data: bytes) -> None:
        kind = event.type
        if kind == EventType.RUN_STARTED:
            self.attempt += 1
            if self.attempt > 1 and self.resume_after is None:
                await self.close_open()
                await self.custom("restarted", {"attempt": self.attempt})
            return
        if self.resume_after is not None:
            await self.skip(event)
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
        raw_call = getattr(event, "tool_call_id", None)
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
        if kind == EventType.TOOL_CALL_END and raw_call is not None:
            self.ended_calls.add(raw_call)
            if raw_call in self.asked:
                await self.interrupt(self.asked[raw_call])

    async def skip(self, event: Any) -> None:
        """A resumed run: what the interrupted run showed is not shown again. A message the worker still had
        open (the interrupted run ended it) goes on as a new one."""
        kind = event.type
        if kind == EventType.TEXT_MESSAGE_START:
            self.skipped_open.append(self.renamed(event.message_id))
        elif kind == EventType.TEXT_MESSAGE_END:
            with contextlib.suppress(ValueError):
                self.skipped_open.remove(self.renamed(event.message_id))
        elif kind == EventType.TOOL_CALL_END and event.tool_call_id == self.resume_after:
            self.resume_after = None
            for message_id in self.skipped_open:
                self.aliases[message_id] = alias = f"{message_id}~{self.run_id}"
                await self.put(TextMessageStartEvent(message_id=alias, role="assistant"))
                self.open_messages.append(alias)

    async def rendered(self, message_id: str, html: str) -> None:
        if self.resume_after is None:
            await self.custom("rendered", {"messageId": self.renamed(message_id), "html": html})

    async def interrupt(self, asked: Confirmation) -> None:
        """End this AG-UI run waiting for the person's answer; the bus run goes on waiting for it."""
        await self.close_open()
        pause = Interrupt(
            id=interrupt_id(asked.run_id, asked.call_id),
            reason="approval",
            message=asked.question,
            tool_call_id=self.renamed(asked.call_id),
            response_schema=APPROVAL,
        )
        outcome = RunFinishedInterruptOutcome(interrupts=[pause])
        self.interrupted = not self.ended.is_set()
        await self.put(RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, outcome=outcome))

    def confirmation(self, event: Any) -> None:
        """A UI event (from the hub): a question of this run waiting for approval."""
        if not isinstance(event, ConfirmationEvent) or event.confirmation.run_id != self.bus_run:
            return
        asked = event.confirmation
        if self.ended.is_set() or asked.state != "pending" or self.resume_after is not None:
            return
        if self.interrupts:
            self.asked[asked.call_id] = asked
            if asked.call_id in self.ended_calls:  # its tool call went out already: interrupt now
                task = asyncio.get_running_loop().create_task(self.interrupt(asked))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        value = {
            "callId": asked.call_id,
            "question": asked.question,
            "answer": f"/api/runs/{asked.run_id}/confirmations/{asked.call_id}",
        }
        with contextlib.suppress(asyncio.QueueFull):
            self.frames.put_nowait(ENCODER.encode(CustomEvent(name="ghostbus.confirmation", value=value)))
