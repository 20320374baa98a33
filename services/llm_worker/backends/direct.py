"""Renames code answers whole, without the model's lines: where the request gives no new name to copy but says
exactly how the old one changes. Each is a rename of the whole new name (`Action.whole`)."""

from __future__ import annotations

from typing import Any

from proto.messages import TaskPublic
from services.llm_worker.backends import spelling, times
from services.llm_worker.backends.actions import Action, Word
from services.llm_worker.backends.corrections import corrected
from services.llm_worker.backends.mentions import Places


def answered(
    units: list[Word], shown: list[Word], places: Places, tasks: list[TaskPublic], respelling: bool, llm: Any
) -> list[Action] | None:
    """The request's renames where code reads them exactly, or None where the model is to read it:
    - "fix the spelling on both" (`respelling`, no task named): each misspelt task respelt from the model's
      vocabulary (`llm`), none when all are spelt right;
    - "#1 got moved to Saturday": the one task named, its day or time replaced (times.py);
    - "we drink whole milk not 2%, fix that": the part of a name put right (corrections.py)."""
    if respelling and not places:
        known = spelling.dictionary(llm)
        fixed = [(task, spelling.respelt(task.name, known)) for task in tasks]
        return [Action("rename", span=t.name, new=new, task=t, whole=True) for t, new in fixed if new != t.name]
    if (moved := times.new_time(shown)) is not None and len(places) == 1:
        ((task, span),) = places.values()
        if (new := times.retimed(task, *moved)) is not None:
            return [Action("rename", span=span, new=new, task=task, whole=True)]
    if (found := corrected(units, tasks)) is not None:
        return [Action("rename", span=found[0].name, new=found[1], task=found[0], whole=True)]
    return None
