"""An outside agent's command that changes many tasks at once waits for a person's approval, as a model's does:
every tab shows the question (crud shows it), the first Approve or Reject from any tab counts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from proto.commands import AnyCommand, approval_question, asks_first
from proto.crud_client import CrudError
from proto.messages import Actor, Confirmation, ConfirmationEvent, ConfirmationSettle, ConfirmationState
from services.gateway.state import Gateway

log = logging.getLogger(__name__)


def question_run(command_id: str) -> str:
    """The run id a question of an agent's command is filed under (each call is its own 'run')."""
    return f"mcp-{command_id}"[:64]


async def approved(gateway: Gateway, command: AnyCommand, command_id: str, actor: Actor) -> str | None:
    """None when the command may go ahead (it needs no approval, or a person approved it); else why not.

    Nobody listens on the question's decide subject, so the gateway that takes a tab's answer records it
    through crud, which shows it in every tab; that UI event is what this waits for. A retried call (the
    same command id) finds the question answered, or waits for the same one."""
    if not asks_first(command):
        return None
    try:
        question = approval_question(command, await gateway.crud.tasks())
    except CrudError:
        return None  # executing it fails the same way, with the same reason
    if question is None:
        return None
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[ConfirmationState] = loop.create_future()

    def heard(event: Any) -> None:
        if isinstance(event, ConfirmationEvent) and event.confirmation.call_id == command_id:
            if event.confirmation.state != "pending" and not answer.done():
                answer.set_result(event.confirmation.state)

    hub = gateway.hub
    assert hub is not None, "the gateway is not started"
    hub.watchers.add(heard)  # before asking: an answer given the moment the question shows is heard
    try:
        asked = Confirmation(
            call_id=command_id, run_id=question_run(command_id), op=command.op, question=question, asked_by=actor
        )
        try:
            stored = await gateway.crud.ask(asked)
        except CrudError as error:
            return f"Could not ask for approval: {error.reason}."
        state: ConfirmationState = stored.state
        if state == "pending":
            log.info("agent call %s waits for approval", command_id)
            timeout_s = gateway.settings.confirm_timeout_s
            try:
                state = await asyncio.wait_for(answer, timeout_s)
            except TimeoutError:
                state = "expired"
                with contextlib.suppress(CrudError):
                    await gateway.crud.settle(ConfirmationSettle(call_id=command_id, state="expired", actor=actor))
            except asyncio.CancelledError:  # the client went: nobody waits for the answer any more
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await gateway.crud.settle(ConfirmationSettle(call_id=command_id, state="stopped", actor=actor))
                raise
    finally:
        hub.watchers.discard(heard)
    if state == "approved":
        return None
    return {
        "rejected": "Rejected in the task list; nothing was changed.",
        "expired": f"Nobody approved it within {gateway.settings.confirm_timeout_s:.0f} s; nothing was changed.",
        "stopped": "Stopped before it was approved; nothing was changed.",
    }.get(state, f"It was {state}; nothing was changed.")
