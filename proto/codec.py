"""The one encode/decode pair used at every bus edge."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from proto.events import RunEvent
from proto.messages import UiEvent

M = TypeVar("M", bound=BaseModel)

_run_event: TypeAdapter[Any] = TypeAdapter(RunEvent)
_ui_event: TypeAdapter[Any] = TypeAdapter(UiEvent)


class DecodeError(ValueError):
    """A message on the bus was not what its subject promises; says what was wrong and where."""

    def __init__(self, expected: str, problems: list[str]) -> None:
        self.expected = expected
        self.problems = problems
        super().__init__(f"not a valid {expected}: " + "; ".join(problems))


def _problems(error: ValidationError) -> list[str]:
    out = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "message"
        out.append(f"{where}: {item['msg']}")
    return out[:5]


def encode(message: BaseModel) -> bytes:
    """Serialize a proto message for the bus (AG-UI events use their camelCase wire names)."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


def encode_text_delta(message_id: str, delta: str) -> bytes:
    """A TEXT_MESSAGE_CONTENT event, byte for byte what `encode` gives for one, written from a template: it is
    the one event sent per token, and building and dumping a model each time was a sixth of a worker's CPU."""
    return (
        b'{"type":"TEXT_MESSAGE_CONTENT","messageId":'
        + json.dumps(message_id, ensure_ascii=False).encode()
        + b',"delta":'
        + json.dumps(delta, ensure_ascii=False).encode()
        + b"}"
    )


def bundle(events: Sequence[bytes]) -> bytes:
    """Several run events in one bus message, one compact JSON object a line (JSON written compactly never holds a
    raw line break, so one event alone is a bundle of one). A busy worker sends a run's start and a text message's
    start and end with what goes next instead of alone; each is still one AG-UI event once `unbundle`d."""
    return b"\n".join(events)


def unbundle(data: bytes) -> list[bytes]:
    """The run events of one bus message, in order (`bundle`)."""
    if b"\n" not in data:
        return [data]
    return [line for line in data.split(b"\n") if line.strip()]


def decode(model: type[M], data: bytes) -> M:
    """Parse and validate a message from the bus, raising DecodeError with readable problems."""
    try:
        return model.model_validate_json(data)
    except ValidationError as error:
        raise DecodeError(model.__name__, _problems(error)) from None


def decode_run_event(data: bytes) -> Any:
    """Parse and validate one AG-UI run event (by its type, a text delta in ~1.5 us: pydantic's own parse is
    faster than reading the JSON by hand and building the model unvalidated)."""
    try:
        return _run_event.validate_json(data)
    except ValidationError as error:
        raise DecodeError("run event", _problems(error)) from None


def decode_ui_event(data: bytes) -> Any:
    """Parse one UI event (a task change or a notice)."""
    try:
        return _ui_event.validate_json(data)
    except ValidationError as error:
        raise DecodeError("UI event", _problems(error)) from None
