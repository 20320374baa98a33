"""A list of tasks as the worker is given it, from their names: ids 1, 2 … in order, a name written "[x] …" done."""

from __future__ import annotations

from proto.messages import TaskPublic


def listed(*names: str) -> list[TaskPublic]:
    return [
        TaskPublic(id=n + 1, name=name.removeprefix("[x] "), done=name.startswith("[x] "), position=n, version=1)
        for n, name in enumerate(names)
    ]
