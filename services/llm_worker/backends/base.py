"""What every model backend gives the worker: a stream of text, commands and usage for one prompt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from proto.commands import AnyCommand
from proto.messages import TaskPublic

ProtoCommand = AnyCommand


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class Call:
    """One command the model called in a round, and what executing it returned (JSON)."""

    call_id: str
    op: str
    arguments: str
    result: str


@dataclass(frozen=True)
class Round:
    """A finished round of a tool-calling answer: the model's text, its calls and their results."""

    text: str
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Prompt:
    """Everything a backend needs to answer one chat message; `rounds` are the earlier rounds of this
    answer whose results go back to the model (the tools strategy)."""

    text: str
    tasks: list[TaskPublic]
    history: list[HistoryTurn] = field(default_factory=list)
    model: str | None = None
    rounds: tuple[Round, ...] = ()
    # What people did on the list by hand since the model last answered, oldest first ("10:42: added “milk”").
    recent: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextDelta:
    """Text for the person, already free of command JSON."""

    text: str


@dataclass(frozen=True)
class CommandOut:
    """A command the model emitted, validated against the command language; `call_id` is the model's
    own id for the call when it used native tool calls."""

    command: ProtoCommand
    call_id: str | None = None


@dataclass(frozen=True)
class InvalidCommand:
    """Something the model meant as a command that is not a valid one; `error` says why."""

    raw: str
    error: str
    call_id: str | None = None
    op: str | None = None


@dataclass(frozen=True)
class Usage:
    """The backend's own counts for the answer."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    duration_s: float | None = None
    first_token_s: float | None = None


Chunk = TextDelta | CommandOut | InvalidCommand | Usage


class BackendError(RuntimeError):
    """The model could not answer (not running, model missing, failed mid-stream); the message says which."""


class Backend(Protocol):
    """A model backend. `composes_reply` is true when the model emits only commands and the worker
    writes the chat reply from the command results (the constrained strategy); `feeds_back` when the
    results go back to the model for another round (the tools strategy). `models()` names the models a
    conversation may pick with `!model` (a backend with one model: just `model`)."""

    name: str
    model: str
    composes_reply: bool
    feeds_back: bool

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def models(self) -> list[str]: ...

    def stream(self, prompt: Prompt) -> AsyncIterator[Chunk]: ...
