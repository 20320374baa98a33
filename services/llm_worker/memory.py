"""The conversation a run belongs to: the earlier turns the model is shown, and the run's messages kept in it."""

from __future__ import annotations

from typing import Literal

from proto.crud_client import CrudClient
from proto.messages import MAX_MESSAGE, ChatMessage, RunRequest
from services.llm_worker import bang, conversation
from services.llm_worker.backends.base import HistoryTurn


async def recall(crud: CrudClient, request: RunRequest) -> tuple[list[HistoryTurn], str | None]:
    """The earlier turns for the model and the model the conversation picked with `!model`, if any.
    Chat commands and their answers are left out (the model never sees them), and so are this run's
    own messages when it is redelivered."""
    earlier, thread_model = await conversation.history(crud, request.thread_id)
    commands = {m.run_id for m in earlier if m.role == "user" and bang.is_bang(m.text)}
    turns = [
        HistoryTurn(role=m.role, text=m.text)
        for m in earlier
        if m.run_id != request.run_id and m.run_id not in commands
    ]
    return turns, thread_model


async def remember(crud: CrudClient, request: RunRequest, role: Literal["user", "assistant"], text: str) -> None:
    """Append the run's message (the person's or the reply) to its conversation; best effort."""
    await conversation.remember(crud, _message(request, role, text))


def _message(request: RunRequest, role: Literal["user", "assistant"], text: str) -> ChatMessage:
    # Ids from the run id: a redelivered run stores each message once.
    return ChatMessage(
        message_id=f"{request.run_id}-{role[0]}",
        thread_id=request.thread_id,
        role=role,
        text=text[:MAX_MESSAGE],
        run_id=request.run_id,
    )
