"""The conversation a run belongs to: the earlier turns the model is shown, and the run's messages kept in it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from proto.crud_client import CrudClient
from proto.messages import MAX_MESSAGE, AuditEntry, ChatMessage, RunRequest, TaskPublic, TurnBegin
from services.llm_worker import bang, conversation
from services.llm_worker.backends.base import HistoryTurn

RECENT_S = 3600.0  # a conversation the model never answered yet is told of the last hour's changes
MAX_RECENT = 10  # the model needs the latest few, not the day's history
HISTORY = 20  # the conversation's last entries a run reads


@dataclass(frozen=True)
class Recalled:
    """The earlier turns for the model, the model the conversation picked with `!model` (if any), and when
    the model last answered in it (None: never)."""

    turns: list[HistoryTurn]
    model: str | None
    answered_at: float | None


@dataclass(frozen=True)
class Begun:
    """What a model run starts from: the list, the conversation as the model is shown it, and crud's latest
    audit entries (newest first, for `done_by_hand`)."""

    tasks: list[TaskPublic]
    recalled: Recalled
    changes: list[AuditEntry]


async def begin(crud: CrudClient, request: RunRequest, wait_s: float = 0.0) -> Begun:
    """A model run's start, in one crud request: the person's message kept in its conversation (once, however
    often the run is delivered), and what the run starts from. A crud not running is waited for up to
    `wait_s`; a crud that cannot answer is a CrudError (the run cannot start without its list)."""
    message = _message(request, "user", request.text)
    asked = TurnBegin(message=message, limit=HISTORY, changes=MAX_RECENT, changes_since=time.time() - RECENT_S)
    begun = await crud.begin(asked, wait_s)
    return Begun(begun.tasks, recalled(begun.messages, request), begun.changes)


def recalled(messages: list[ChatMessage], request: RunRequest) -> Recalled:
    """What the model is shown of the conversation's last entries. Chat commands and their answers are left
    out (the model never sees them), and so are this run's own messages when it is redelivered."""
    earlier, thread_model = conversation.current(messages)
    commands = {m.run_id for m in earlier if m.role == "user" and bang.is_bang(m.text)}
    kept = [m for m in earlier if m.run_id != request.run_id and m.run_id not in commands]
    answers = [m.at for m in kept if m.role == "assistant"]
    turns = [HistoryTurn(role=m.role, text=m.text) for m in kept]
    return Recalled(turns, thread_model, max(answers) if answers else None)


def done_by_hand(entries: list[AuditEntry], since: float | None, now: float | None = None) -> tuple[str, ...]:
    """What people changed by hand (from crud's audit `entries`, newest first, not from any page) since the
    model last answered in this conversation, or in the last RECENT_S when it never has: at most MAX_RECENT
    lines, oldest first, each "10:42: added “milk”"."""
    now = time.time() if now is None else now
    start = max(since or 0.0, now - RECENT_S)
    lines = []
    for entry in entries:  # newest first
        if entry.at <= start:
            break
        if entry.actor.kind != "person" or not entry.result.ok or not entry.result.summary:
            continue
        said = entry.result.summary.rstrip(".")
        lines.append(f"{time.strftime('%H:%M', time.localtime(entry.at))}: {said[:1].lower()}{said[1:]}")
        if len(lines) == MAX_RECENT:
            break
    return tuple(reversed(lines))


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
