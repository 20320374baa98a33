"""The whole command language against the real crud: each command's effect, its sentence, and the
errors a person or a model can act on."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from proto.commands import (
    TaskClearCompleted,
    TaskCreate,
    TaskDelete,
    TaskMove,
    TaskRename,
    TaskReorder,
    TaskSetDone,
    TaskToggle,
)
from services.crud.service import Crud
from tests.crud.test_commands import names, send

pytestmark = pytest.mark.usefixtures("crud")


async def make(nc: Client, *items: str) -> list[int]:
    ids = []
    for item in items:
        result = await send(nc, TaskCreate(name=item))
        assert result.task
        ids.append(result.task.id)
    return ids


async def test_create_at_a_position_rename_move_and_reorder(nc: Client, crud: Crud) -> None:
    a, b, c = await make(nc, "apples", "bread", "cheese")
    top = await send(nc, TaskCreate(name="dates", position=0))
    assert top.summary == "Added “dates” at place 1." and top.task and top.task.position == 0
    assert await names(nc) == ["dates", "apples", "bread", "cheese"]
    renamed = await send(nc, TaskRename(name="bread", new_name="rye bread"))
    assert renamed.summary == "Renamed “bread” to “rye bread”."
    moved = await send(nc, TaskMove(id=c, position=0))
    assert moved.summary == "Moved “cheese” to place 1."
    assert await names(nc) == ["cheese", "dates", "apples", "rye bread"]
    d = top.task.id
    reordered = await send(nc, TaskReorder(order=[a, b, c, d]))
    assert reordered.ok and await names(nc) == ["apples", "rye bread", "cheese", "dates"]
    tasks = await crud.db.list_tasks()
    assert [t.position for t in tasks] == [0, 1, 2, 3]


async def test_a_reorder_must_name_every_task_once(nc: Client) -> None:
    a, b, _ = await make(nc, "apples", "bread", "cheese")
    short = await send(nc, TaskReorder(order=[b, a]))
    assert short.error and short.error.code == "invalid" and "leaves out #3" in short.error.message
    unknown = await send(nc, TaskReorder(order=[a, b, 3, 99]))
    assert unknown.error and "there is no #99" in unknown.error.message
    with pytest.raises(ValueError, match="only once"):
        TaskReorder(order=[a, a])


async def test_set_done_and_clear_completed(nc: Client) -> None:
    await make(nc, "apples", "bread", "cheese")
    assert (await send(nc, TaskSetDone(name="apples"))).summary == "Marked “apples” done."
    again = await send(nc, TaskSetDone(name="apples", done=True))
    assert again.ok and again.summary == "“apples” was already done."
    await send(nc, TaskToggle(name="cheese"))
    cleared = await send(nc, TaskClearCompleted())
    assert cleared.summary == "Cleared 2 done: “apples”, “cheese”."
    assert await names(nc) == ["bread"]
    assert (await send(nc, TaskClearCompleted())).summary == "There is nothing done to clear."


async def test_names_match_ignoring_case_then_the_one_clearly_closest(nc: Client) -> None:
    await make(nc, "call the plumber", "buy milk", "buy bread")
    assert (await send(nc, TaskToggle(name="CALL THE PLUMBER"))).ok
    assert (await send(nc, TaskSetDone(name="plumber"))).summary == "“call the plumber” was already done."
    close = await send(nc, TaskDelete(name="buy mlk"))
    assert close.summary == "Deleted “buy milk”."
    vague = await send(nc, TaskDelete(name="bu"))
    assert vague.error and vague.error.code == "not_found"
    await make(nc, "buy milk")
    either = await send(nc, TaskDelete(name="buy"))
    assert either.error and either.error.code == "ambiguous"
    assert "“buy bread”" in either.error.message and "“buy milk”" in either.error.message


async def test_a_stale_expected_version_is_a_conflict_that_names_the_current_state(nc: Client) -> None:
    (a,) = await make(nc, "milk")
    await send(nc, TaskRename(id=a, new_name="oat milk"))
    stale = await send(nc, TaskToggle(id=a, expected_version=1))
    assert stale.error and stale.error.code == "conflict"
    assert stale.error.message == "“oat milk” changed since version 1: it is now “oat milk”, not done, version 2."
    fresh = await send(nc, TaskToggle(id=a, expected_version=2))
    assert fresh.ok and fresh.task and fresh.task.version == 3
