"""The one encode/decode pair used at every bus edge."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from proto.events import RunEvent, TextMessageContentEvent
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


_TEXT_DELTA = b'{"type":"TEXT_MESSAGE_CONTENT",'
_TEXT_DELTA_KEYS = {"type", "messageId", "delta"}


def text_delta(data: bytes) -> tuple[str, str] | None:
    """(message id, delta) of a text delta as workers write it (`encode_text_delta`), checked by hand: the one
    event per token is not put through the model's validation. None for anything else, or anything odd (it
    goes the full way, `decode_run_event`)."""
    if not data.startswith(_TEXT_DELTA):
        return None
    try:
        fields = json.loads(data)
    except ValueError:
        return None
    if not isinstance(fields, dict) or fields.keys() != _TEXT_DELTA_KEYS:
        return None
    message_id, delta = fields["messageId"], fields["delta"]
    if not (isinstance(message_id, str) and isinstance(delta, str) and delta):
        return None
    return message_id, delta


def text_delta_event(message_id: str, delta: str) -> TextMessageContentEvent:
    """A text delta's event from fields already checked (`text_delta`)."""
    return TextMessageContentEvent.model_construct(message_id=message_id, delta=delta)


def decode_run_event(data: bytes) -> Any:
    """Parse one AG-UI run event."""
    if (fields := text_delta(data)) is not None:
        return text_delta_event(*fields)
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
