"""The person's approval of a command that changes many tasks at once: asked in every browser, waited for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from proto import subjects
from proto.codec import DecodeError, decode, encode
from proto.commands import approval_question, asks_first
from proto.crud_client import CrudClient, CrudError
from proto.messages import (
    PERSON,
    CommandRequest,
    CommandResult,
    Confirmation,
    ConfirmationSettle,
    ConfirmationState,
    Decision,
    DecisionReply,
)
from services.llm_worker.errors import HandedBack

log = logging.getLogger(__name__)


class Approvals:
    """The questions of one worker's runs. The first answer from any browser counts and is recorded
    through crud; while a run waits for one, its own time limit stands still."""

    def __init__(self, nc: Client, crud: CrudClient, timeout_s: float, stopping: asyncio.Event) -> None:
        self.nc = nc
        self.crud = crud
        self.timeout_s = timeout_s
        self._stopping = stopping
        self._deadlines: dict[str, asyncio.Timeout] = {}

    @contextlib.asynccontextmanager
    async def time_limit(self, run_id: str, seconds: float) -> AsyncIterator[None]:
        """The run's time limit (TimeoutError when it passes), not counting the waits for an answer."""
        async with asyncio.timeout(seconds) as deadline:
            self._deadlines[run_id] = deadline
            try:
                yield
            finally:
                self._deadlines.pop(run_id, None)

    def remaining(self, run_id: str) -> float | None:
        """The seconds left of the run's time limit (None: the run has none here)."""
        deadline = self._deadlines.get(run_id)
        when = deadline.when() if deadline is not None else None
        return None if when is None else when - asyncio.get_running_loop().time()

    async def confirm(self, request: CommandRequest) -> CommandResult | None:
        """Ask the person before a command that changes many tasks at once (proto.commands'
        `approval_question`): every browser shows Approve / Reject, the first answer counts. None to go
        ahead; else the result that refuses the command, which the model reads as the tool result."""
        assert request.run_id is not None
        if not asks_first(request.command):
            return None  # most commands: no list to read, nothing to ask
        try:
            question = approval_question(request.command, await self.crud.tasks())
        except CrudError:
            return None  # executing it fails the same way, with the same reason
        if question is None:
            return None
        call_id, run_id = request.command_id, request.run_id
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[bool] = loop.create_future()

        async def on_decision(msg: Msg) -> None:
            try:
                decision = decode(Decision, msg.data)
            except DecodeError as error:
                reply = DecisionReply(accepted=False, state="pending", message=str(error))
            else:
                if decision.call_id != call_id:
                    reply = DecisionReply(accepted=False, state="pending", message="That question is not open.")
                elif answered.done():
                    state: ConfirmationState = "approved" if answered.result() else "rejected"
                    reply = DecisionReply(accepted=False, state=state, message=f"It was already {state}.")
                else:
                    answered.set_result(decision.approve)
                    reply = DecisionReply(accepted=True, state="approved" if decision.approve else "rejected")
            with contextlib.suppress(Exception):
                await msg.respond(encode(reply))

        # Listening before asking: an answer given the moment the question shows is heard.
        sub = await self.nc.subscribe(subjects.chat_decide(run_id), cb=on_decision)
        try:
            await self.nc.flush()
            asked = Confirmation(
                call_id=call_id, run_id=run_id, op=request.command.op, question=question, asked_by=request.actor
            )
            try:
                stored = await self.crud.ask(asked)
            except CrudError as error:
                reason = f"Could not ask for approval: {error.reason}."
                return CommandResult.refused(call_id, request.command.op, "internal", reason)
            if stored.state == "pending":
                log.info("run %s: %s waits for approval", run_id, call_id)
                state = await self._answer(request, answered)
            else:
                state = stored.state  # a redelivered run: answered before
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if state == "approved":
            return None
        why = {
            "rejected": "Rejected in the chat",
            "expired": f"Nobody approved it within {self.timeout_s:.0f} s",
            "stopped": "Stopped before it was approved",
        }[state]
        return CommandResult.refused(call_id, request.command.op, "rejected", f"{why}; nothing was changed.")

    async def _answer(self, request: CommandRequest, answered: asyncio.Future[bool]) -> ConfirmationState:
        """Wait for the person's answer (or the time limit) and record it; the wait does not count
        against the run's own time limit. A Stop records `stopped` and goes on cancelling the run."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = self._deadlines.get(request.run_id or "")
        resume_at = deadline.when() if deadline is not None else None
        if deadline is not None:
            deadline.reschedule(None)  # the run's clock stops while the person decides
        state: ConfirmationState
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        waits: set[asyncio.Future[Any]] = {answered, stopping}
        try:
            done, _ = await asyncio.wait(waits, timeout=self.timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if answered in done:
                state = "approved" if answered.result() else "rejected"
            elif stopping in done:
                # The question stays open in every browser; the worker that takes the run next asks
                # crud again, finds it open and waits for the same answer.
                raise HandedBack(f"run {request.run_id}: this worker is stopping while {request.command_id} waits")
            else:
                state = "expired"
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._settle(request, "stopped")
            raise
        finally:
            stopping.cancel()
            if deadline is not None and resume_at is not None:
                deadline.reschedule(resume_at + loop.time() - started)
        await self._settle(request, state)
        return state

    async def _settle(self, request: CommandRequest, state: ConfirmationState) -> None:
        by = PERSON if state in ("approved", "rejected") else request.actor
        assert state != "pending"
        try:
            await self.crud.settle(ConfirmationSettle(call_id=request.command_id, state=state, actor=by))
        except CrudError as error:
            log.warning("could not record that %s was %s: %s", request.command_id, state, error)
