"""The crud client against the real crud: every endpoint typed both ways, and one CrudError, with crud's
own reason, for a crud that refuses, is not running, or answers something else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from proto import subjects
from proto.commands import TaskCreate, TaskToggle
from proto.crud_client import BAD_REPLY, NOT_RUNNING, TIMED_OUT, CrudClient, CrudError
from proto.messages import (
    PERSON,
    Actor,
    ChatMessage,
    Confirmation,
    ConfirmationSettle,
    NoticeRequest,
)
from services.crud.config import Settings
from services.crud.service import Crud, running
from tests.support.natsd import NatsServer

MODEL = Actor(kind="model", backend="ollama", model="llama3.2")


@pytest.mark.usefixtures("crud")
async def test_commands_run_once_per_id_and_refusals_are_results(nc: Client) -> None:
    crud = CrudClient(nc)
    made = await crud.execute(TaskCreate(name="milk"), MODEL, command_id="c1", run_id="r1")
    again = await crud.execute(TaskCreate(name="milk"), MODEL, command_id="c1", run_id="r1")
    missing = await crud.execute(TaskToggle(id=42), PERSON)
    assert made.ok and made.summary == "Added “milk”." and again == made
    assert not missing.ok and missing.error is not None and missing.error.code == "not_found"
    assert [(t.name, t.done) for t in await crud.tasks()] == [("milk", False)]
    assert [(e.command_id, e.run_id, e.op) for e in await crud.audit(run_id="r1")] == [("c1", "r1", "create")]


@pytest.mark.usefixtures("crud")
async def test_conversations_confirmations_and_notices(nc: Client) -> None:
    crud = CrudClient(nc)
    said = ChatMessage(message_id="m1", thread_id="t1", role="user", text="hello", run_id="r1")
    assert await crud.append(said) and not await crud.append(said)
    assert [m.text for m in await crud.conversation("t1")] == ["hello"]
    asked = Confirmation(call_id="r1-1", run_id="r1", op="clear_completed", question="Remove 2?", asked_by=MODEL)
    assert (await crud.ask(asked)).state == "pending"
    assert [c.call_id for c in await crud.pending_confirmations()] == ["r1-1"]
    settled = await crud.settle(ConfirmationSettle(call_id="r1-1", state="approved", actor=PERSON))
    assert settled.state == "approved" and await crud.pending_confirmations() == []
    await crud.notify(NoticeRequest(notice_id="n1", actor=MODEL, text="hi"))
    await crud.ping()


@pytest.mark.usefixtures("crud")
async def test_a_refusal_is_a_crud_error_with_crud_s_reason(nc: Client) -> None:
    with pytest.raises(CrudError) as refused:
        await CrudClient(nc).settle(ConfirmationSettle(call_id="never", state="approved", actor=PERSON))
    assert refused.value.code == "404" and refused.value.subject == subjects.CONFIRMATION_SET
    assert refused.value.reason == "No confirmation never was asked"
    assert str(refused.value) == "No confirmation never was asked."


async def test_no_crud_is_a_crud_error_at_once_or_after_waiting(nc: Client) -> None:
    crud = CrudClient(nc)
    with pytest.raises(CrudError) as away:
        await crud.tasks()
    assert (
        away.value.code == NOT_RUNNING and str(away.value) == "The task service is not running; try again in a moment."
    )
    with pytest.raises(CrudError) as waited:
        await crud.tasks(wait_s=0.5)
    assert waited.value.code == NOT_RUNNING
    with pytest.raises(CrudError) as no_ping:
        await crud.ping()
    assert no_ping.value.code == NOT_RUNNING


async def test_an_answer_that_is_not_the_contract_is_a_crud_error(nc: Client) -> None:
    async def foreign(msg: Msg) -> None:
        await msg.respond(b'{"items": []}')

    # Something other than crud answering on its subject (an older or foreign service).
    sub = await nc.subscribe(subjects.TASK_LIST, cb=foreign)
    try:
        with pytest.raises(CrudError) as odd:
            await CrudClient(nc).tasks()
    finally:
        await sub.unsubscribe()
    assert odd.value.code == BAD_REPLY and "not a valid TaskList" in odd.value.reason


async def test_a_late_answer_is_waited_for_under_the_same_id_never_a_second_command(nc: Client, crud: Crud) -> None:
    client = CrudClient(nc, timeout_s=0.3)
    # crud is busy (its single writer held) for longer than a request waits: each request goes unanswered,
    # then crud takes them all; the first creates milk, the ones asked again get its stored result.
    async with crud.lock:
        asking = asyncio.create_task(client.execute(TaskCreate(name="milk"), MODEL, command_id="late-1", run_id="r1"))
        await asyncio.sleep(1.0)
        assert not asking.done()
    made = await asyncio.wait_for(asking, 5)
    assert made.ok and made.summary == "Added “milk”."
    assert [t.name for t in await client.tasks()] == ["milk"]
    assert [e.command_id for e in await client.audit(run_id="r1")] == ["late-1"]


async def test_no_answer_until_patience_ends_says_the_outcome_is_not_known(nc: Client, crud: Crud) -> None:
    client = CrudClient(nc, timeout_s=0.2, patience_s=0.7)
    async with crud.lock:
        with pytest.raises(CrudError) as unknown:
            await client.execute(TaskCreate(name="milk"), PERSON)
    assert unknown.value.code == TIMED_OUT and "not known" in str(unknown.value)


async def test_a_crud_that_is_not_there_yet_is_asked_again_until_it_is(
    nats_server: NatsServer, nc: Client, tmp_path: Path
) -> None:
    client = CrudClient(nc, patience_s=30)
    asking = asyncio.create_task(client.execute(TaskCreate(name="milk"), PERSON, command_id="early-1"))
    await asyncio.sleep(1.0)  # no responders all that time (as right after a reconnect, before crud subscribes)
    assert not asking.done()
    settings = Settings(NATS_URL=nats_server.url, DATA_DIR=tmp_path / "data")
    async with running(settings):
        made = await asyncio.wait_for(asking, 10)
        assert made.ok and [t.name for t in await client.tasks()] == ["milk"]
    with pytest.raises(CrudError) as away:
        await CrudClient(nc, patience_s=0.5).execute(TaskCreate(name="bread"), PERSON)
    assert away.value.code == NOT_RUNNING
