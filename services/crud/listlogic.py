"""The task list as plain rows: the list each command makes of the current one, the changes between two
lists, and taking a command's changes back. Pure: no SQLite, no pydantic object per row."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from proto.commands import (
    MAX_TASKS,
    AnyCommand,
    TaskClearCompleted,
    TaskCreate,
    TaskDelete,
    TaskMove,
    TaskRename,
    TaskReorder,
    TaskSetDone,
    TaskToggle,
    Undo,
    _Targeted,
)
from services.crud import summaries
from services.crud.errors import Refused
from services.crud.summaries import MAX_LISTED, quoted

CLOSE_MATCH = 0.75
"""How alike (difflib's ratio) a name must be to a task's to count as meaning it."""


class Row(NamedTuple):
    """A task. As read from the table, `position` is where it stands; in a computed list its place is
    its index there, and `position` only says where it stood. `id` None is a task still to be created;
    `floor`, for a task an undo brings back, is the version it was deleted at: it comes back above it."""

    id: int | None
    name: str
    done: bool
    position: int = -1
    version: int = 0
    floor: int = 0

    def stored(self) -> dict[str, Any]:
        """The task as an inverse keeps it (the fields of proto's TaskPublic)."""
        return {"id": self.id, "name": self.name, "done": self.done, "position": self.position, "version": self.version}


@dataclass
class Outcome:
    """What a command makes of the list: the new list, its sentence, the task it is about, and, for an
    undo, the commands it takes back."""

    rows: list[Row]
    summary: str
    focus: int | None = None
    undoes: list[str] = field(default_factory=list)


class Change(NamedTuple):
    """One task that differs between two lists, as it is now (a deleted one at the version its deletion
    gives it) and as it was (None for one created)."""

    kind: Literal["created", "updated", "deleted"]
    row: Row
    previous: Row | None


class Done(NamedTuple):
    """A command as stored, as far as an undo needs it."""

    command_id: str
    ok: bool
    summary: str
    inverse: dict[str, Any] | None
    undone_by: str | None


def compute(command: AnyCommand, rows: Sequence[Row]) -> Outcome:
    """The list `command` makes of `rows` (in list order), or Refused. An undo goes through `undo`."""
    new = list(rows)
    if isinstance(command, TaskCreate):
        if len(new) >= MAX_TASKS:
            raise Refused("invalid", f"The list is full ({MAX_TASKS} tasks); delete some first.")
        place = len(new) if command.position is None else min(command.position, len(new))
        new.insert(place, Row(None, command.name, False))
        return Outcome(new, summaries.added(command.name, None if place == len(new) - 1 else place))
    if isinstance(command, TaskReorder):
        return reorder(command, new)
    if isinstance(command, TaskClearCompleted):
        return Outcome([r for r in new if not r.done], summaries.cleared([r.name for r in new if r.done]))
    assert not isinstance(command, Undo), "an undo reads stored commands: see undo()"
    assert isinstance(command, _Targeted)
    target = resolve(command, new)
    index = next(i for i, r in enumerate(new) if r.id == target.id)
    if isinstance(command, TaskDelete):
        del new[index]
        return Outcome(new, summaries.deleted(target.name), focus=target.id)
    if isinstance(command, TaskMove):
        del new[index]
        place = min(command.position, len(new))
        new.insert(place, target)
        return Outcome(new, summaries.moved(target.name, place), target.id)
    assert isinstance(command, TaskToggle | TaskSetDone | TaskRename)
    new[index], summary = change(command, target)
    return Outcome(new, summary, target.id)


def change(command: TaskToggle | TaskSetDone | TaskRename, row: Row) -> tuple[Row, str]:
    """The row as a command on that one task leaves it (the same row when it changes nothing) and the
    sentence saying so."""
    if isinstance(command, TaskToggle):
        return row._replace(done=not row.done), summaries.marked(row.name, not row.done)
    if isinstance(command, TaskSetDone):
        if row.done == command.done:
            return row, summaries.already(row.name, row.done)
        return row._replace(done=command.done), summaries.marked(row.name, command.done)
    if row.name == command.new_name:
        return row, summaries.same_name(row.name)
    return row._replace(name=command.new_name), summaries.renamed(row.name, command.new_name)


def reorder(command: TaskReorder, rows: list[Row]) -> Outcome:
    """The list in the order given, which must name every task once."""
    current = {r.id for r in rows}
    wanted = set(command.order)
    if wanted != current:
        missing = sorted(i for i in current - wanted if i is not None)
        unknown = sorted(wanted - current)
        parts = []
        if missing:
            parts.append("it leaves out " + ", ".join(f"#{i}" for i in missing[:MAX_LISTED]))
        if unknown:
            parts.append("there is no " + ", ".join(f"#{i}" for i in unknown[:MAX_LISTED]))
        raise Refused("invalid", "A reorder must list every task once: " + "; ".join(parts) + ".")
    by_id = {r.id: r for r in rows}
    return Outcome([by_id[i] for i in command.order], summaries.reordered(len(rows)))


def resolve(command: _Targeted, rows: Sequence[Row]) -> Row:
    """The task a command targets: by id, or by name (the same ignoring case, else the one clearly
    closest); a missing or ambiguous name says which tasks exist. A stale expected version is refused."""
    if command.id is not None:
        found = next((r for r in rows if r.id == command.id), None)
        if found is None:
            raise Refused("not_found", f"There is no task #{command.id}.")
    else:
        assert command.name is not None
        found = by_name(command.name, rows)
    if command.expected_version is not None and command.expected_version != found.version:
        state = f"{quoted(found.name)}, {'done' if found.done else 'not done'}, version {found.version}"
        raise Refused(
            "conflict", f"{quoted(found.name)} changed since version {command.expected_version}: it is now {state}."
        )
    return found


def by_name(name: str, rows: Sequence[Row]) -> Row:
    """The one task called `name` (ignoring case), else the one name clearly close to it; Refused with
    the candidates or the list when there is not exactly one."""
    wanted = name.casefold()
    exact = [r for r in rows if r.name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    if exact:
        listed = ", ".join(f"#{r.id} {quoted(r.name)}" for r in exact[:MAX_LISTED])
        raise Refused("ambiguous", f"Several tasks are called {quoted(name)}: {listed}; give the id.")
    folded = {r.name.casefold(): r for r in rows}
    close = {folded[n].id: folded[n] for n in difflib.get_close_matches(wanted, list(folded), 5, CLOSE_MATCH)}
    close |= {r.id: r for r in rows if len(wanted) >= 3 and wanted in r.name.casefold()}
    if len(close) == 1:
        return next(iter(close.values()))
    if close:
        listed = ", ".join(f"#{r.id} {quoted(r.name)}" for r in list(close.values())[:MAX_LISTED])
        raise Refused("ambiguous", f"{quoted(name)} could be {listed}; give the id or the exact name.")
    if not rows:
        raise Refused("not_found", f"There is no {quoted(name)}: the list is empty.")
    raise Refused("not_found", f"There is no {quoted(name)}. The list has {summaries.names([r.name for r in rows])}.")


def diff(before: Sequence[Row], after: Sequence[Row]) -> list[Change]:
    """The changes that turn `before` (as stored) into `after` (as computed), in the order their events
    go out: the deleted tasks, then the created and updated ones from the top. Each changed task gets
    the next version; every position in `after` is its index."""
    old = {r.id: r for r in before}
    kept = {r.id for r in after if r.id is not None}
    changes = [Change("deleted", r._replace(version=r.version + 1), r) for r in before if r.id not in kept]
    for position, row in enumerate(after):
        previous = old.get(row.id) if row.id is not None else None
        if previous is None:
            # A task brought back by an undo comes back with a version above any it had.
            version = 1 if row.id is None else max(row.version, row.floor) + 1
            changes.append(Change("created", Row(row.id, row.name, row.done, position, version), None))
        elif (previous.name, previous.done, previous.position) != (row.name, row.done, position):
            changes.append(updated(previous, row._replace(position=position)))
    return changes


def updated(previous: Row, row: Row) -> Change:
    """`previous` (as stored) changed to `row`'s name, done and position, at the next version."""
    return Change("updated", Row(previous.id, row.name, row.done, row.position, previous.version + 1), previous)


def inverse(changes: Sequence[Change]) -> dict[str, Any] | None:
    """What an undo needs to take `changes` back (None: they are none): the tasks as they were, the ids
    created, the version each task was left at (None: deleted) and the version each deleted task was
    deleted at. Created tasks must carry their ids by now."""
    if not changes:
        return None
    before: list[dict[str, Any]] = []
    created: list[int | None] = []
    after: dict[str, int | None] = {}
    tombs: dict[str, int] = {}
    for kind, row, previous in changes:
        if previous is not None:
            before.append(previous.stored())
        if kind == "deleted":
            after[str(row.id)] = None
            tombs[str(row.id)] = row.version
        else:
            after[str(row.id)] = row.version
        if kind == "created":
            created.append(row.id)
    return {"before": before, "created": created, "after": after, "tombs": tombs}


def redone(inverses: Sequence[dict[str, Any]], changes: Sequence[Change]) -> list[dict[str, Any]]:
    """The inverses of commands a redo brings back (newest first), expecting each task the redo wrote at
    its new version. Only the newest command touching a task takes it: an older one is checked, when a
    whole run is undone, against the task as the newer one's undo leaves it, which is unchanged."""
    written = {str(c.row.id): c for c in changes}
    claimed: set[str] = set()
    out = []
    for inverse in inverses:
        after, tombs = dict(inverse["after"]), dict(inverse.get("tombs", {}))
        for key in after:
            change = written.get(key)
            if change is None or key in claimed:
                continue
            claimed.add(key)
            if change.kind == "deleted":
                after[key], tombs[key] = None, change.row.version
            else:
                after[key] = change.row.version
        out.append(inverse | {"after": after, "tombs": tombs})
    return out


def undo(command: Undo, done: Sequence[Done], rows: Sequence[Row]) -> Outcome:
    """The list with the changes of the commands `done` (newest first) taken back, or Refused when one
    was already undone, had failed, or a task it touched has changed since."""
    if not done:
        what = f"command {command.command_id}" if command.command_id else f"run {command.run_id}"
        raise Refused("not_found", f"There is nothing to undo for {what}.")
    new = list(rows)
    undone: list[str] = []
    sentences: list[str] = []
    for record in done:
        if record.undone_by is not None:
            raise Refused("conflict", f"Command {record.command_id} was already undone (by {record.undone_by}).")
        if not record.ok:
            raise Refused("not_found", f"Command {record.command_id} failed, so there is nothing to undo.")
        if record.inverse is None:
            continue  # it changed nothing
        new = revert(record.inverse, new, record.command_id)
        undone.append(record.command_id)
        sentences.append(record.summary)
    if not undone:
        raise Refused("not_found", "Those commands changed nothing, so there is nothing to undo.")
    return Outcome(new, summaries.undid(sentences), undoes=undone)


def revert(inverse: dict[str, Any], rows: list[Row], command_id: str) -> list[Row]:
    """The list with one command's change taken back, refused if a task it touched changed since."""
    current = {r.id: r for r in rows}
    for key, version in inverse["after"].items():
        task_id = int(key)
        now = current.get(task_id)
        if version is None and now is not None:
            raise Refused("conflict", f"Cannot undo {command_id}: task #{task_id} is back on the list.")
        if version is not None and (now is None or now.version != version):
            state = "deleted since" if now is None else f"changed since (now {quoted(now.name)})"
            raise Refused("conflict", f"Cannot undo {command_id}: task #{task_id} was {state}.")
    created = set(inverse["created"])
    before = [Row(t["id"], t["name"], bool(t["done"]), t["position"], t["version"]) for t in inverse["before"]]
    restored = {r.id for r in before}
    rest = [r for r in rows if r.id not in created and r.id not in restored]
    tombs = inverse.get("tombs", {})
    for row in sorted(before, key=lambda r: r.position):
        existing = current.get(row.id)
        # The row carries the version the task had before the command, so an older command of the
        # same run is checked against the state it left; the database's versions still only grow.
        floor = existing.floor if existing is not None else int(tombs.get(str(row.id), 0))
        rest.insert(min(row.position, len(rest)), row._replace(floor=floor))
    return rest
