"""The events of a chat run, in the AG-UI vocabulary (the `ag-ui-protocol` package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ag_ui.core import (
    EventType,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from pydantic import Field

RunEvent = Annotated[
    RunStartedEvent
    | TextMessageStartEvent
    | TextMessageContentEvent
    | TextMessageEndEvent
    | ToolCallStartEvent
    | ToolCallArgsEvent
    | ToolCallEndEvent
    | ToolCallResultEvent
    | RunFinishedEvent
    | RunErrorEvent,
    Field(discriminator="type"),
]
"""One event of a chat run; every run ends with RUN_FINISHED or RUN_ERROR."""

TERMINAL = frozenset({EventType.RUN_FINISHED, EventType.RUN_ERROR})

__all__ = [
    "EventType",
    "RunErrorEvent",
    "RunEvent",
    "RunFinishedEvent",
    "RunStartedEvent",
    "TERMINAL",
    "TextChunk",
    "TextMessageContentEvent",
    "TextMessageEndEvent",
    "TextMessageStartEvent",
    "ToolCallArgsEvent",
    "ToolCallEndEvent",
    "ToolCallResultEvent",
    "ToolCallStartEvent",
]


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A text delta on its way out of a worker: the one event per token, so it is never built as a model but
    written from a template (`proto.codec.encode_text_delta`) as a TEXT_MESSAGE_CONTENT event."""

    message_id: str
    delta: str
