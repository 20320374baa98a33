"""The one encode/decode pair used at every bus edge."""

from __future__ import annotations

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


def decode(model: type[M], data: bytes) -> M:
    """Parse and validate a message from the bus, raising DecodeError with readable problems."""
    try:
        return model.model_validate_json(data)
    except ValidationError as error:
        raise DecodeError(model.__name__, _problems(error)) from None


def decode_run_event(data: bytes) -> Any:
    """Parse one AG-UI run event."""
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
