"""Messages on the bus: chat runs, command requests and results, tasks and UI events."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from proto.commands import Command, Identifier

MAX_CHAT = 4000

ChatText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CHAT)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(_Message):
    """Who issued a command: a person at a browser, a model (with its backend and name), or an outside
    agent over MCP (with the name its client gave)."""

    kind: Literal["person", "model", "agent"]
    backend: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=200)
    client: str | None = Field(default=None, max_length=200, description="an agent's MCP client name")

    def label(self) -> str:
        """How the actor is shown to people."""
        if self.kind == "agent":
            return self.client or "an agent"
        return "you" if self.kind == "person" else (self.model or "the model")


PERSON = Actor(kind="person")


class RunRequest(_Message):
    """A chat run to do: what a person typed in the chat, waiting on the work queue for a worker."""

    run_id: Identifier
    thread_id: Identifier
    text: ChatText
    model: str | None = Field(default=None, max_length=200)
    submitted_at: float = Field(default_factory=time.time)


class CommandRequest(_Message):
    """A command to execute in crud; `command_id` makes a retry of the same command harmless.

    The id is bound to what it asks (its `fingerprint`): sent again with the same command it gets the first
    result; with another command it is refused as a conflict, never answered with the result of the first."""

    command_id: Identifier
    actor: Actor
    run_id: Identifier | None = None
    command: Command

    def fingerprint(self) -> str:
        """A hash of what this command asks: the command in canonical JSON, the kind of actor and the run.
        The model's name is left out: a run redelivered to a worker on another backend asks the same."""
        canonical = json.dumps(
            {
                "command": self.command.model_dump(mode="json", exclude_none=True),
                "actor": self.actor.kind,
                "run_id": self.run_id,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class ListRequest(_Message):
    """Ask crud for the whole task list."""


class TaskPublic(_Message):
    """A task as everyone outside crud sees it."""

    id: int
    name: str
    done: bool
    position: int
    version: int


class TaskList(_Message):
    """The whole task list in list order."""

    tasks: list[TaskPublic]


ErrorCode = Literal["invalid", "not_found", "ambiguous", "conflict", "rejected", "internal"]


class CommandError(_Message):
    """Why a command was refused, in words a person or a model can act on."""

    code: ErrorCode
    message: str


class CommandResult(_Message):
    """What executing a command did: the task it touched and a sentence saying so, or the error."""

    command_id: str
    ok: bool
    op: str | None = None
    task: TaskPublic | None = None
    summary: str = ""
    error: CommandError | None = None

    @classmethod
    def refused(cls, command_id: str, op: str | None, code: ErrorCode, message: str) -> CommandResult:
        """A command that was not carried out, and why."""
        return cls(command_id=command_id, ok=False, op=op, error=CommandError(code=code, message=message))


class TaskEvent(_Message):
    """A task was created, updated or deleted; browsers re-render it."""

    type: Literal["task"] = "task"
    event_id: Identifier
    kind: Literal["created", "updated", "deleted"]
    task: TaskPublic
    actor: Actor
    command_id: Identifier
    at: float = Field(default_factory=time.time)


class Notice(_Message):
    """A toast for every open browser."""

    type: Literal["notice"] = "notice"
    event_id: Identifier
    level: Literal["info", "success", "warning", "error"] = "info"
    text: str = Field(max_length=2000)
    at: float = Field(default_factory=time.time)


ConfirmationState = Literal["pending", "approved", "rejected", "expired", "stopped"]


class Confirmation(_Message):
    """A model's command that waits for the person's approval (it would change many tasks at once)."""

    call_id: Identifier
    run_id: Identifier
    op: str = Field(max_length=20)
    question: str = Field(min_length=1, max_length=2000)
    asked_by: Actor
    state: ConfirmationState = "pending"
    at: float = Field(default_factory=time.time)


class ConfirmationEvent(_Message):
    """A confirmation was asked or settled; every browser shows it with its Approve / Reject buttons."""

    type: Literal["confirmation"] = "confirmation"
    event_id: Identifier
    confirmation: Confirmation
    at: float = Field(default_factory=time.time)


class ConfirmationSettle(_Message):
    """Record the answer to a confirmation: the person's, or the worker's when it expired or stopped."""

    call_id: Identifier
    state: Literal["approved", "rejected", "expired", "stopped"]
    actor: Actor
    run_id: Identifier | None = Field(default=None, description="when given, the run the question must be of")


class PendingRequest(_Message):
    """Ask crud for the confirmations still waiting for an answer (a page that opens shows them);
    older ones are left out: no worker waits that long."""

    max_age_s: float = Field(default=900.0, gt=0, le=86_400)


class ConfirmationList(_Message):
    confirmations: list[Confirmation]


class Decision(_Message):
    """A person's answer to one confirmation, sent to the worker that waits for it."""

    call_id: Identifier
    approve: bool


class DecisionReply(_Message):
    """Whether the worker took the answer; when it did not, why (already answered, not asked)."""

    accepted: bool
    state: ConfirmationState
    message: str = ""


UiEvent = Annotated[TaskEvent | Notice | ConfirmationEvent, Field(discriminator="type")]
"""Anything on the UI stream."""


class AuditRequest(_Message):
    """Ask crud for its record of commands, newest first, optionally only those of one run."""

    run_id: Identifier | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class AuditEntry(_Message):
    """One command as crud recorded it: who, what, the result, the events it produced, when."""

    command_id: str
    actor: Actor
    run_id: str | None = None
    op: str
    command: dict[str, Any]
    result: CommandResult
    event_ids: list[str]
    undone_by: str | None = None
    at: float


class AuditList(_Message):
    entries: list[AuditEntry]


MAX_MESSAGE = 20_000


MessageKind = Literal["message", "reset", "model"]
"""What a conversation entry is: a message someone said; the point where `!reset` started a new
conversation (what came before is no longer part of it); or the model `!model` chose (its name in `text`)."""


class ChatMessage(_Message):
    """One entry of a conversation, as crud keeps it for stateless workers."""

    message_id: Identifier
    thread_id: Identifier
    role: Literal["user", "assistant"]
    text: str = Field(max_length=MAX_MESSAGE)
    run_id: Identifier | None = None
    at: float = Field(default_factory=time.time)
    kind: MessageKind = "message"


class ConversationRequest(_Message):
    """Ask for the last `limit` messages of a conversation, oldest first."""

    thread_id: Identifier
    limit: int = Field(default=20, ge=1, le=200)


class Conversation(_Message):
    thread_id: str
    messages: list[ChatMessage]


class TurnBegin(_Message):
    """A model run's start: store the person's `message` in its conversation, and read what the run starts
    from, as it was before the message: the task list, the conversation's last `limit` entries, and the
    last `changes` commands people carried out after `changes_since` (newest first)."""

    message: ChatMessage
    limit: int = Field(default=20, ge=1, le=200)
    changes: int = Field(default=10, ge=0, le=1000)
    changes_since: float = 0.0


class TurnBegun(_Message):
    """What a run starts from; `stored` is False when the message was stored before (a redelivered run)."""

    stored: bool
    tasks: list[TaskPublic]
    messages: list[ChatMessage]
    changes: list[AuditEntry]


class Appended(_Message):
    """The reply to appending a message; appending the same message id twice stores it once."""

    message_id: str
    stored: bool


class NoticeRequest(_Message):
    """Ask crud to show a toast in every open browser (recorded like a command; the id makes it once)."""

    notice_id: Identifier
    actor: Actor
    level: Literal["info", "success", "warning", "error"] = "info"
    text: str = Field(min_length=1, max_length=2000)
    sent_at: float | None = None


def same_model(listed: str, name: str) -> bool:
    """Whether a backend's listed model is the one a setting or a person names: Ollama lists
    "llama3.2:latest" for "llama3.2"."""
    return listed in (name, f"{name}:latest")


class ModelList(_Message):
    """What one worker's backend can run: its default model and every model it lists."""

    backend: str = Field(max_length=40)
    default: str = Field(max_length=200)
    models: list[Annotated[str, StringConstraints(max_length=200)]] = Field(max_length=500)
