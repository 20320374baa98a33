"""The list logic on plain rows, without SQLite: what each command makes of a list, the changes written
for it, and undo taking them back."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

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
)
from services.crud import listlogic
from services.crud.errors import Refused
from services.crud.listlogic import Change, Done, Row


def stored(*names: str, done: Sequence[str] = ()) -> list[Row]:
    """A list as the table holds it: ids 1.., positions 0.., every task at version 1."""
    return [Row(n + 1, name, name in done, n, 1) for n, name in enumerate(names)]


def commit(before: list[Row], after: list[Row], next_id: int = 100) -> tuple[list[Row], list[Change]]:
    """What the table holds once the changes are written (new ids from `next_id`), and the changes."""
    changes: list[Change] = []
    fresh: list[Row] = []
    for change in listlogic.diff(before, after):
        if change.row.id is None:
            change = change._replace(row=change.row._replace(id=next_id))
            fresh.append(change.row)
            next_id += 1
        changes.append(change)
    written = {c.row.id: c.row for c in changes if c.kind != "deleted"}
    old = {r.id: r for r in before}
    new = iter(fresh)
    return [next(new) if r.id is None else written[r.id] if r.id in written else old[r.id] for r in after], changes


def run(command: AnyCommand, before: list[Row]) -> tuple[list[Row], list[Change], listlogic.Outcome]:
    outcome = listlogic.compute(command, before)
    table, changes = commit(before, outcome.rows)
    return table, changes, outcome


def refusal(command: AnyCommand, rows: list[Row]) -> tuple[str, str]:
    with pytest.raises(Refused) as refused:
        listlogic.compute(command, rows)
    return refused.value.error.code, refused.value.error.message


def test_a_create_goes_to_the_end_or_its_place_and_the_tasks_below_move_down() -> None:
    table, changes, outcome = run(TaskCreate(name="jam"), stored("milk", "eggs"))
    assert [(r.name, r.position, r.version) for r in table] == [("milk", 0, 1), ("eggs", 1, 1), ("jam", 2, 1)]
    assert outcome.summary == "Added “jam”." and [c.kind for c in changes] == ["created"]
    table, changes, outcome = run(TaskCreate(name="jam", position=0), stored("milk", "eggs"))
    assert [(r.name, r.position, r.version) for r in table] == [("jam", 0, 1), ("milk", 1, 2), ("eggs", 2, 2)]
    assert outcome.summary == "Added “jam” at place 1."
    assert [(c.kind, c.row.name) for c in changes] == [("created", "jam"), ("updated", "milk"), ("updated", "eggs")]
    _, _, far = run(TaskCreate(name="jam", position=50), stored("milk"))
    assert far.summary == "Added “jam”."


def test_a_full_list_takes_no_more() -> None:
    full = [Row(n + 1, f"t{n}", False, n, 1) for n in range(MAX_TASKS)]
    assert refusal(TaskCreate(name="one more"), full) == (
        "invalid",
        f"The list is full ({MAX_TASKS} tasks); delete some first.",
    )


def test_a_delete_closes_the_gap_and_its_event_comes_first() -> None:
    table, changes, outcome = run(TaskDelete(name="milk"), stored("milk", "eggs", "jam"))
    assert [(r.name, r.position, r.version) for r in table] == [("eggs", 0, 2), ("jam", 1, 2)]
    assert [(c.kind, c.row.name, c.row.version) for c in changes] == [
        ("deleted", "milk", 2),
        ("updated", "eggs", 2),
        ("updated", "jam", 2),
    ]
    assert outcome.summary == "Deleted “milk”." and outcome.focus == 1


def test_one_task_commands_say_what_they_did_or_that_nothing_needed_doing() -> None:
    rows = stored("milk", "eggs", done=["eggs"])
    assert listlogic.compute(TaskToggle(id=1), rows).summary == "Marked “milk” done."
    assert listlogic.compute(TaskToggle(id=2), rows).summary == "Marked “eggs” not done."
    assert listlogic.compute(TaskSetDone(id=1, done=True), rows).summary == "Marked “milk” done."
    assert listlogic.compute(TaskSetDone(name="Eggs"), rows).summary == "“eggs” was already done."
    assert listlogic.compute(TaskRename(id=1, new_name="oat milk"), rows).summary == "Renamed “milk” to “oat milk”."
    assert listlogic.compute(TaskRename(id=1, new_name="milk"), rows).summary == "“milk” already has that name."
    for unchanged in (TaskSetDone(name="Eggs"), TaskRename(id=1, new_name="milk")):
        assert listlogic.diff(rows, listlogic.compute(unchanged, rows).rows) == []
    table, changes, _ = run(TaskRename(id=2, new_name="brown eggs"), rows)
    assert table[1] == Row(2, "brown eggs", True, 1, 2) and len(changes) == 1


def test_a_move_is_clamped_to_the_list_and_renumbers_only_what_moved() -> None:
    table, changes, outcome = run(TaskMove(name="jam", position=0), stored("milk", "eggs", "jam", "tea"))
    assert [r.name for r in table] == ["jam", "milk", "eggs", "tea"]
    assert {c.row.name for c in changes} == {"jam", "milk", "eggs"} and outcome.summary == "Moved “jam” to place 1."
    table, _, outcome = run(TaskMove(id=1, position=999), stored("milk", "eggs"))
    assert [r.name for r in table] == ["eggs", "milk"] and outcome.summary == "Moved “milk” to place 2."


def test_a_reorder_names_every_task_once() -> None:
    table, _, outcome = run(TaskReorder(order=[3, 1, 2]), stored("milk", "eggs", "jam"))
    assert [r.name for r in table] == ["jam", "milk", "eggs"] and outcome.summary == "Put the 3 tasks in the new order."
    assert refusal(TaskReorder(order=[3, 1, 7]), stored("milk", "eggs", "jam")) == (
        "invalid",
        "A reorder must list every task once: it leaves out #2; there is no #7.",
    )


def test_clear_completed_lists_what_it_removed() -> None:
    names = [f"t{n}" for n in range(13)]
    table, changes, outcome = run(TaskClearCompleted(), stored(*names, "keep", done=names))
    assert [(r.name, r.position) for r in table] == [("keep", 0)] and len(changes) == 14
    listed = ", ".join(f"“t{n}”" for n in range(10))
    assert outcome.summary == f"Cleared 13 done: {listed} and 3 more."
    assert listlogic.compute(TaskClearCompleted(), stored("keep")).summary == "There is nothing done to clear."


def test_a_name_finds_its_task_or_says_which_tasks_there_are() -> None:
    rows = stored("Milk", "eggs", "call mom", "call dad")
    assert listlogic.resolve(TaskToggle(name="milk"), rows).id == 1
    assert listlogic.resolve(TaskToggle(name="egs"), rows).id == 2  # clearly close
    assert listlogic.resolve(TaskToggle(name="mom"), rows).id == 3  # part of one name
    assert refusal(TaskToggle(name="call"), rows) == (
        "ambiguous",
        "“call” could be #3 “call mom”, #4 “call dad”; give the id or the exact name.",
    )
    assert refusal(TaskToggle(name="bread"), rows) == (
        "not_found",
        "There is no “bread”. The list has “Milk”, “eggs”, “call mom”, “call dad”.",
    )
    assert refusal(TaskToggle(name="bread"), []) == ("not_found", "There is no “bread”: the list is empty.")
    assert refusal(TaskToggle(id=9), rows) == ("not_found", "There is no task #9.")
    twins = [Row(1, "tea", False, 0, 1), Row(2, "Tea", False, 1, 1)]
    assert refusal(TaskDelete(name="TEA"), twins) == (
        "ambiguous",
        "Several tasks are called “TEA”: #1 “tea”, #2 “Tea”; give the id.",
    )


def test_a_stale_expected_version_is_refused_with_the_task_as_it_is() -> None:
    rows = [Row(1, "milk", True, 0, 3)]
    assert refusal(TaskRename(id=1, new_name="oat milk", expected_version=2), rows) == (
        "conflict",
        "“milk” changed since version 2: it is now “milk”, done, version 3.",
    )
    assert listlogic.compute(TaskToggle(id=1, expected_version=3), rows).rows == [Row(1, "milk", False, 0, 3)]


def test_the_inverse_records_the_tasks_as_they_were_and_the_versions_left() -> None:
    _, changes, _ = run(TaskDelete(id=1), stored("milk", "eggs"))
    assert listlogic.inverse(changes) == {
        "before": [
            {"id": 1, "name": "milk", "done": False, "position": 0, "version": 1},
            {"id": 2, "name": "eggs", "done": False, "position": 1, "version": 1},
        ],
        "created": [],
        "after": {"1": None, "2": 2},
        "tombs": {"1": 2},
    }
    _, created, _ = run(TaskCreate(name="jam"), [])
    assert listlogic.inverse(created) == {"before": [], "created": [100], "after": {"100": 1}, "tombs": {}}
    assert listlogic.inverse([]) is None


def done(command_id: str, changes: list[Change], summary: str = "did it") -> Done:
    return Done(command_id, True, summary, listlogic.inverse(changes), None)


def test_an_undo_brings_a_deleted_task_back_in_its_place_above_the_version_it_died_at() -> None:
    before = stored("milk", "eggs", "jam")
    table, changes, _ = run(TaskDelete(name="eggs"), before)
    outcome = listlogic.undo(Undo(command_id="c1"), [done("c1", changes, "Deleted “eggs”.")], table)
    assert outcome.summary == "Undid: Deleted “eggs”." and outcome.undoes == ["c1"]
    restored, changes = commit(table, outcome.rows)
    assert [(r.id, r.name, r.position) for r in restored] == [(1, "milk", 0), (2, "eggs", 1), (3, "jam", 2)]
    assert [(c.kind, c.row.id, c.row.version) for c in changes] == [("created", 2, 3), ("updated", 3, 3)]


def test_undoing_a_run_takes_its_commands_back_newest_first() -> None:
    first, created, _ = run(TaskCreate(name="jam", position=0), stored("milk"))
    second, renamed, _ = run(TaskRename(id=100, new_name="plum jam"), first)
    records = [done("c2", renamed, "Renamed “jam” to “plum jam”."), done("c1", created, "Added “jam” at place 1.")]
    outcome = listlogic.undo(Undo(run_id="r1"), records, second)
    assert [(r.id, r.name) for r in outcome.rows] == [(1, "milk")]
    assert outcome.summary == "Undid 2 changes: Renamed “jam” to “plum jam”. Added “jam” at place 1."


def undo_refusal(records: list[Done], rows: list[Row]) -> tuple[str, str]:
    with pytest.raises(Refused) as refused:
        listlogic.undo(Undo(command_id="c1"), records, rows)
    return refused.value.error.code, refused.value.error.message


def test_an_undo_is_refused_when_it_cannot_take_the_change_back() -> None:
    table, changes, _ = run(TaskRename(id=1, new_name="oat milk"), stored("milk"))
    renamed = done("c1", changes)
    changed_since, _, _ = run(TaskToggle(id=1), table)
    assert undo_refusal([], table) == ("not_found", "There is nothing to undo for command c1.")
    assert undo_refusal([renamed], changed_since) == (
        "conflict",
        "Cannot undo c1: task #1 was changed since (now “oat milk”).",
    )
    assert undo_refusal([renamed], []) == ("conflict", "Cannot undo c1: task #1 was deleted since.")
    assert undo_refusal([renamed._replace(undone_by="c9")], table) == (
        "conflict",
        "Command c1 was already undone (by c9).",
    )
    assert undo_refusal([renamed._replace(ok=False)], table) == (
        "not_found",
        "Command c1 failed, so there is nothing to undo.",
    )
    assert undo_refusal([done("c1", [])], table) == (
        "not_found",
        "Those commands changed nothing, so there is nothing to undo.",
    )
    _, deleted, _ = run(TaskDelete(id=1), stored("milk"))
    assert undo_refusal([done("c1", deleted)], table) == ("conflict", "Cannot undo c1: task #1 is back on the list.")


def test_undoing_clear_completed_puts_every_cleared_task_back_where_it_was() -> None:
    before = stored("a", "b", "c", "d", "e", done=["a", "c", "e"])
    table, changes, _ = run(TaskClearCompleted(), before)
    assert [r.name for r in table] == ["b", "d"]
    outcome = listlogic.undo(Undo(command_id="c1"), [done("c1", changes)], table)
    restored, _ = commit(table, outcome.rows)
    assert [r._replace(version=1) for r in restored] == before
    assert all(r.version == 3 for r in restored), "every task is one version past its last change"
