"""The command language: every action a person or a model can take on the task list."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Literal, Protocol, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

MAX_NAME = 200
MAX_ID = 64

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=r"^[A-Za-z0-9_-]+$")]
"""An id that is safe inside a NATS subject token: run ids, command ids, thread ids."""


ZWJ = "\u200d"
"""The zero-width joiner: it joins emoji into one (👨‍👩‍👧) and letters in some scripts, so a name may hold it."""

MAX_INT = 2**53 - 1
"""The largest id or version a command may name: every integer up to it is exact in a browser's JSON (and far
inside SQLite's 64 bits), so a larger one is refused where it arrives, never overflows inside crud."""

BoundedId = Annotated[int, Field(ge=1, le=MAX_INT)]


def _clean_name(value: str) -> str:
    for at, ch in enumerate(value):
        if ch == ZWJ and 0 < at < len(value) - 1 and ZWJ not in (value[at - 1], value[at + 1]):
            continue  # joining two characters; alone or at an edge it only hides something
        # Cc: control characters; Cf: invisible formatting (zero-width spaces, bidi overrides). Variation
        # selectors (U+FE0F, which asks for an emoji's colour form) are marks, not formatting: allowed.
        if unicodedata.category(ch) in ("Cc", "Cf"):
            raise ValueError("a task name cannot contain control characters")
    return value


TaskName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME),
    AfterValidator(_clean_name),
]
"""A task's visible name: 1 to 200 printable characters, surrounding spaces removed."""


class TaskView(Protocol):
    """What `approval_question` reads of a task (proto.messages.TaskPublic has it)."""

    id: int
    name: str
    done: bool


MAX_TASKS = 1000
"""The most tasks a list holds; also bounds positions and a full reorder."""


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def target(self) -> str:
        return ""


class _Targeted(_Command):
    id: int | None = Field(default=None, ge=1, le=MAX_INT, description="the task's id")
    name: TaskName | None = Field(default=None, description="the task's name, when the id is not known")
    expected_version: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="refuse the command if the task has changed since this version"
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.id is None) == (self.name is None):
            raise ValueError("give the task either by id or by name, not both and not neither")
        return self

    def target(self) -> str:
        """The target as a person would read it."""
        return f"#{self.id}" if self.id is not None else f"“{self.name}”"


class TaskCreate(_Command):
    """Add a new task, at the end of the list or at a position (0 is the top)."""

    op: Literal["create"] = "create"
    name: TaskName
    position: int | None = Field(default=None, ge=0, le=MAX_TASKS)


class TaskRename(_Targeted):
    """Give a task a new name."""

    op: Literal["rename"] = "rename"
    new_name: TaskName


class TaskSetDone(_Targeted):
    """Mark a task done (done true) or not done (done false)."""

    op: Literal["set_done"] = "set_done"
    done: bool = True


class TaskToggle(_Targeted):
    """Mark a task done, or not done again if it already is."""

    op: Literal["toggle"] = "toggle"


class TaskDelete(_Targeted):
    """Remove a task from the list."""

    op: Literal["delete"] = "delete"


class TaskMove(_Targeted):
    """Move a task to a position in the list (0 is the top)."""

    op: Literal["move"] = "move"
    position: int = Field(ge=0, le=MAX_TASKS)


class TaskReorder(_Command):
    """Put the whole list in a new order: every task's id, once each."""

    op: Literal["reorder"] = "reorder"
    order: list[BoundedId] = Field(max_length=MAX_TASKS)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if len(set(self.order)) != len(self.order):
            raise ValueError("each task id may appear only once in the order")
        return self


class TaskClearCompleted(_Command):
    """Remove every task that is done."""

    op: Literal["clear_completed"] = "clear_completed"


class Undo(_Command):
    """Undo one earlier command (by its command id) or everything a chat run did (by its run id)."""

    op: Literal["undo"] = "undo"
    command_id: Identifier | None = None
    run_id: Identifier | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.command_id is None) == (self.run_id is None):
            raise ValueError("undo either a command_id or a run_id, not both and not neither")
        return self

    def target(self) -> str:
        return f"command {self.command_id}" if self.command_id else f"run {self.run_id}"


AnyCommand = (
    TaskCreate | TaskRename | TaskSetDone | TaskToggle | TaskDelete | TaskMove | TaskReorder | TaskClearCompleted | Undo
)
Command = Annotated[AnyCommand, Field(discriminator="op")]
"""Any command of the language, told apart by its `op`."""

COMMANDS: tuple[type[AnyCommand], ...] = (
    TaskCreate,
    TaskRename,
    TaskSetDone,
    TaskToggle,
    TaskDelete,
    TaskMove,
    TaskReorder,
    TaskClearCompleted,
    Undo,
)
OPS: tuple[str, ...] = tuple(c.model_fields["op"].default for c in COMMANDS)

command_adapter: TypeAdapter[AnyCommand] = TypeAdapter(Command)

# One example per command, for the model's reference; each is checked against the models in the tests.
EXAMPLES: dict[str, dict[str, object]] = {
    "create": {"op": "create", "name": "milk"},
    "rename": {"op": "rename", "name": "milk", "new_name": "oat milk"},
    "set_done": {"op": "set_done", "name": "milk", "done": True},
    "toggle": {"op": "toggle", "name": "milk"},
    "delete": {"op": "delete", "name": "milk"},
    "move": {"op": "move", "name": "milk", "position": 0},
    "reorder": {"op": "reorder", "order": [3, 1, 2]},
    "clear_completed": {"op": "clear_completed"},
    "undo": {"op": "undo", "command_id": "abc-1"},
}


def command_reference() -> str:
    """The command language as a model reads it: one line per command, generated from the models."""
    lines = []
    for cls in COMMANDS:
        op = cls.model_fields["op"].default
        lines.append(f"- {op}: {(cls.__doc__ or '').strip()} e.g. {json.dumps(EXAMPLES[op])}")
    return "\n".join(lines)


def _names(names: list[str], most: int = 8) -> str:
    shown = ", ".join(f"“{n}”" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def asks_first(command: AnyCommand) -> bool:
    """Whether a model's command may need the person's approval (`approval_question` says whether it
    does, given the list): clearing completed tasks, reordering the whole list, undoing a whole run."""
    return isinstance(command, TaskClearCompleted | TaskReorder) or (
        isinstance(command, Undo) and command.run_id is not None
    )


def approval_question(command: AnyCommand, tasks: Sequence[TaskView]) -> str | None:
    """The question a person must answer before a model may run this command, or None when it may
    run at once: clearing completed tasks, reordering the whole list and undoing a whole run wait
    for approval (each can change many tasks in one go). `tasks` is the list as it is now."""
    if isinstance(command, TaskClearCompleted):
        done = [t.name for t in tasks if t.done]
        if not done:
            return None  # nothing would go: crud says so, nothing to approve
        plural = "s" if len(done) != 1 else ""
        return f"Remove {len(done)} completed task{plural}: {_names(done)}?"
    if isinstance(command, TaskReorder):
        by_id = {t.id: t.name for t in tasks}
        return f"Put the whole list in this order: {_names([by_id.get(i, f'#{i}') for i in command.order])}?"
    if isinstance(command, Undo) and command.run_id is not None:
        return "Undo everything that chat run did?"
    return None
