"""The command language: every action a person or a model can take on the task list."""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

MAX_NAME = 200
MAX_ID = 64

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=r"^[A-Za-z0-9_-]+$")]
"""An id that is safe inside a NATS subject token: run ids, command ids, thread ids."""


def _clean_name(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise ValueError("a task name cannot contain control characters")
    return value


TaskName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME),
    AfterValidator(_clean_name),
]
"""A task's visible name: 1 to 200 printable characters, surrounding spaces removed."""


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Targeted(_Command):
    id: int | None = Field(default=None, ge=1, description="the task's id")
    name: TaskName | None = Field(default=None, description="the task's name, when the id is not known")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.id is None) == (self.name is None):
            raise ValueError("give the task either by id or by name, not both and not neither")
        return self

    def target(self) -> str:
        """The target as a person would read it."""
        return f"#{self.id}" if self.id is not None else f"“{self.name}”"


class TaskCreate(_Command):
    """Add a new task at the end of the list."""

    op: Literal["create"] = "create"
    name: TaskName


class TaskToggle(_Targeted):
    """Mark a task done, or not done again if it already is."""

    op: Literal["toggle"] = "toggle"


class TaskDelete(_Targeted):
    """Remove a task from the list."""

    op: Literal["delete"] = "delete"


Command = Annotated[TaskCreate | TaskToggle | TaskDelete, Field(discriminator="op")]
"""Any command of the language, told apart by its `op`."""

COMMANDS: tuple[type[TaskCreate | TaskToggle | TaskDelete], ...] = (TaskCreate, TaskToggle, TaskDelete)
OPS: tuple[str, ...] = tuple(c.model_fields["op"].default for c in COMMANDS)

command_adapter: TypeAdapter[TaskCreate | TaskToggle | TaskDelete] = TypeAdapter(Command)


def command_reference() -> str:
    """The command language as a model reads it: one line per command, generated from the models."""
    lines = []
    for cls in COMMANDS:
        op = cls.model_fields["op"].default
        example = json.dumps({"op": op, "name": "milk"})
        how = "by name" if issubclass(cls, _Targeted) else "with its name"
        lines.append(f"- {op}: {(cls.__doc__ or '').strip()} Give the task {how}, e.g. {example}")
    return "\n".join(lines)
