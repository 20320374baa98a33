"""One chat run: ask the backend, execute its commands through crud, publish the run's AG-UI events."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from proto.commands import OPS, command_adapter
from proto.events import (
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextChunk,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from proto.messages import Actor, AuditEntry, CommandRequest, CommandResult, RunRequest
from services.llm_worker.backends.base import (
    Backend,
    BackendError,
    Call,
    CommandOut,
    InvalidCommand,
    Prompt,
    ProtoCommand,
    Round,
    TextDelta,
    Usage,
)

log = logging.getLogger(__name__)

Publish = Callable[[BaseModel | TextChunk], Awaitable[None]]
Execute = Callable[[CommandRequest], Awaitable[CommandResult]]
Confirm = Callable[[CommandRequest], Awaitable[CommandResult | None]]
"""Ask the person before a command that changes many tasks at once: None to go ahead, else the
result that refuses it (rejected, or no answer in time)."""

MAX_ROUNDS = 4
"""How many times a tool-calling model may answer again after its commands ran."""

NOTHING_TO_DO = "I can only change the task list. Try “add milk”, “I finished the laundry” or “remove eggs”."


@dataclass
class RunStats:
    """The run's own counts, shown under the reply: the model and its real speed (the RUN_FINISHED result)."""

    model: str
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    tokens: int = 0
    generation_s: float | None = None

    def token(self) -> None:
        if self.first_token is None:
            self.first_token = time.monotonic()

    def result(self) -> dict[str, Any]:
        ttft = None if self.first_token is None else round(self.first_token - self.started, 4)
        elapsed = self.generation_s
        if elapsed is None and self.first_token is not None:
            elapsed = time.monotonic() - self.first_token
        rate = round(self.tokens / elapsed, 1) if self.tokens and elapsed else None
        return {"model": self.model, "ttft_s": ttft, "tokens": self.tokens, "tokens_per_s": rate}


def compose_reply(results: list[CommandResult]) -> str:
    """The chat reply of a backend that only emits commands, written from what crud did."""
    if not results:
        return NOTHING_TO_DO
    lines = []
    for result in results:
        if result.ok:
            lines.append(result.summary)
        elif result.error and result.error.code == "rejected":
            lines.append(f"I left it as it was: {result.error.message}")
        else:
            message = result.error.message if result.error else "it failed"
            lines.append(f"I could not do that: {message}")
    return "\n".join(lines)


class Run:
    """The events of one run, in AG-UI order, and the commands it executes (ids: run id + call index; on a
    redelivered run, see `resume`)."""

    def __init__(
        self,
        request: RunRequest,
        backend: Backend,
        publish: Publish,
        execute: Execute,
        confirm: Confirm | None = None,
    ) -> None:
        self.request = request
        self.backend = backend
        self.publish = publish
        self.execute = execute
        self.confirm = confirm
        self.model = request.model or backend.model
        self.actor = Actor(kind="model", backend=backend.name, model=self.model)
        self.message_id = f"{request.run_id}-m"
        self.message_open = False
        self.calls = 0
        self.attempt = 1
        # What earlier attempts of this run did (crud's record, see `resume`): every id they used, and the
        # fingerprints of the commands they applied that this attempt has not asked for again yet.
        self._taken: set[str] = set()
        self._applied: dict[str, str] = {}
        self.results: list[CommandResult] = []
        self.stats = RunStats(model=self.model)
        self._reply: list[str] = []

    def use_model(self, model: str) -> None:
        """The conversation asked for another model of the backend (`!model`)."""
        self.model = model
        self.actor = Actor(kind="model", backend=self.backend.name, model=model)
        self.stats.model = model

    @property
    def reply(self) -> str:
        """The text the person saw, for the conversation history."""
        return "".join(self._reply)

    async def start(self) -> None:
        await self.publish(RunStartedEvent(thread_id=self.request.thread_id, run_id=self.request.run_id))

    async def answer(self, prompt: Prompt) -> None:
        """Stream the backend's answer, acting on each command as it completes. With the tools strategy
        the results go back to the model, which answers again, until it calls no more (bounded)."""
        tokens = 0
        for _ in range(MAX_ROUNDS):
            calls: list[Call] = []
            said: list[str] = []
            async for chunk in self.backend.stream(prompt):
                if isinstance(chunk, TextDelta):
                    self.stats.token()
                    self.stats.tokens += 1
                    said.append(chunk.text)
                    await self.text(chunk.text)
                elif isinstance(chunk, CommandOut):
                    self.stats.token()
                    result = await self.command(chunk.command)
                    arguments = chunk.command.model_dump_json(exclude_none=True)
                    calls.append(Call(chunk.call_id or "", chunk.command.op, arguments, result.model_dump_json()))
                elif isinstance(chunk, InvalidCommand):
                    self.stats.token()
                    result = await self.invalid(chunk)
                    calls.append(Call(chunk.call_id or "", chunk.op or "command", chunk.raw, result.model_dump_json()))
                elif isinstance(chunk, Usage):
                    if chunk.completion_tokens is not None:
                        self.stats.tokens = tokens + chunk.completion_tokens
                    if chunk.duration_s:
                        self.stats.generation_s = (self.stats.generation_s or 0) + chunk.duration_s
                    if chunk.first_token_s is not None and not prompt.rounds:
                        self.stats.first_token = self.stats.started + chunk.first_token_s
            tokens = self.stats.tokens
            failed = [c for c in calls if _correctable(c.result)]
            # Inline: a command that failed validation goes back to the model once, to be corrected.
            inline = not self.backend.feeds_back and not self.backend.composes_reply
            inline_retry = inline and bool(failed) and not prompt.rounds
            if not (self.backend.feeds_back and calls) and not inline_retry:
                break
            if inline_retry:
                calls = failed
            prompt = replace(prompt, rounds=(*prompt.rounds, Round("".join(said), tuple(calls))))
        if self.backend.composes_reply:
            await self.text(compose_reply(self.results))
        await self.close_message()

    async def text(self, delta: str) -> None:
        if not delta:
            return
        if not self.message_open:
            await self.publish(TextMessageStartEvent(message_id=self.message_id, role="assistant"))
            self.message_open = True
        await self.publish(TextChunk(self.message_id, delta))
        self._reply.append(delta)

    async def close_message(self) -> None:
        if self.message_open:
            await self.publish(TextMessageEndEvent(message_id=self.message_id))
            self.message_open = False

    def _next_call(self) -> str:
        self.calls += 1
        return f"{self.request.run_id}-{self.calls}"

    def resume(self, recorded: Sequence[AuditEntry]) -> None:
        """This run was delivered before (`attempt` > 1: its worker died or handed it back); `recorded` is
        what crud holds of it, newest first. A command this attempt asks again that an earlier one applied
        keeps that command's id, so crud answers with what was done instead of doing it twice; a new command
        never takes an id an earlier attempt used (crud would refuse it: the id stands for something else)."""
        for entry in reversed(recorded):  # crud lists them newest first
            self._taken.add(entry.command_id)
            if entry.op not in OPS or not entry.result.ok:
                continue  # a notice, an approval step, a refused command: nothing to do twice
            try:
                command = command_adapter.validate_python(entry.command)
                done = CommandRequest(
                    command_id=entry.command_id, actor=entry.actor, run_id=entry.run_id, command=command
                )
            except ValidationError:
                continue
            self._applied[entry.command_id] = done.fingerprint()

    def _reconciled(self, request: CommandRequest) -> CommandRequest:
        """The request under the id it must have given what earlier attempts of the run did (see `resume`)."""
        if not self._taken:
            return request
        fingerprint = request.fingerprint()
        same = [command_id for command_id, done in self._applied.items() if done == fingerprint]
        if same:
            chosen = request.command_id if request.command_id in same else same[0]
            del self._applied[chosen]
        elif request.command_id in self._taken:
            chosen = f"{self.request.run_id}-{self.attempt}-{self.calls}"
        else:
            return request
        return request.model_copy(update={"command_id": chosen})

    async def command(self, command: ProtoCommand) -> CommandResult:
        request = CommandRequest(
            command_id=self._next_call(), actor=self.actor, run_id=self.request.run_id, command=command
        )
        request = self._reconciled(request)
        call_id = request.command_id
        await self._call_events(call_id, command.op, command.model_dump_json(exclude_none=True))
        refused = await self.confirm(request) if self.confirm is not None else None
        result = refused or await self.execute(request)
        self.results.append(result)
        await self._result(call_id, result)
        return result

    async def invalid(self, item: InvalidCommand) -> CommandResult:
        """A command the model got wrong: a failed action in the chat, never its JSON."""
        call_id = self._next_call()
        op = item.op or _guess_op(item.raw)
        await self._call_events(call_id, op, item.raw[:1500])
        result = CommandResult.refused(call_id, op, "invalid", item.error)
        self.results.append(result)
        await self._result(call_id, result)
        return result

    async def _call_events(self, call_id: str, name: str, args: str) -> None:
        parent = self.message_id if self.message_open else None
        await self.publish(ToolCallStartEvent(tool_call_id=call_id, tool_call_name=name, parent_message_id=parent))
        await self.publish(ToolCallArgsEvent(tool_call_id=call_id, delta=args))
        await self.publish(ToolCallEndEvent(tool_call_id=call_id))

    async def _result(self, call_id: str, result: CommandResult) -> None:
        await self.publish(
            ToolCallResultEvent(
                message_id=f"{call_id}-r", tool_call_id=call_id, role="tool", content=result.model_dump_json()
            )
        )

    async def finish(self) -> None:
        await self.close_message()
        await self.publish(
            RunFinishedEvent(thread_id=self.request.thread_id, run_id=self.request.run_id, result=self.stats.result())
        )

    async def fail(self, message: str, code: str) -> None:
        await self.close_message()
        await self.publish(RunErrorEvent(message=message, code=code))


CORRECTABLE = frozenset({"invalid", "not_found", "ambiguous"})
"""Why a command may fail that writing it again can fix. Not the others: one the person rejected stays
rejected, and one whose outcome is not known (crud did not answer) may have been carried out."""


def _correctable(result: str) -> bool:
    outcome = json.loads(result)
    return not outcome.get("ok") and (outcome.get("error") or {}).get("code") in CORRECTABLE


def _guess_op(raw: str) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        return "command"
    op = (value.get("op") or value.get("verb")) if isinstance(value, dict) else None
    return op if isinstance(op, str) and op.isidentifier() and len(op) <= 20 else "command"


async def perform(run: Run, prompt: Prompt) -> None:
    """A whole run: started, the answer, then finished or an error a person can read."""
    await run.start()
    try:
        await run.answer(prompt)
    except BackendError as error:
        log.warning("run %s: backend failed: %s", run.request.run_id, error)
        await run.fail(str(error), "backend")
        return
    await run.finish()
