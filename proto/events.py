"""The events of a chat run, in the AG-UI vocabulary (the `ag-ui-protocol` package)."""

from __future__ import annotations

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
    "TextMessageContentEvent",
    "TextMessageEndEvent",
    "TextMessageStartEvent",
    "ToolCallArgsEvent",
    "ToolCallEndEvent",
    "ToolCallResultEvent",
    "ToolCallStartEvent",
]
