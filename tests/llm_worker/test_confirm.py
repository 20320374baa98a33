"""Commands that change many tasks at once wait for the person's approval: the question reaches every
browser (the UI stream), the first answer counts, a rejection goes back to the model as the tool
result, and nothing is applied without an approval. Real nats-server, real crud, a fake Ollama."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import decode, decode_ui_event, encode
from proto.commands import TaskCreate, TaskSetDone
from proto.events import EventType
from proto.messages import (
    PERSON,
    CommandRequest,
    CommandResult,
    Confirmation,
    ConfirmationEvent,
    Decision,
    DecisionReply,
)
from services.crud.service import Crud
from services.gateway.config import Settings as GatewaySettings
from services.llm_worker.config import Settings
from services.llm_worker.worker import running
from tests.gateway.conftest import serve
from tests.llm_worker.test_worker import events_of, submit
from tests.support.fake_ollama import FakeOllama, serving
from tests.support.natsd import NatsServer


async def person(nc: Client, command: Any) -> CommandResult:
    request = CommandRequest(command_id=uuid.uuid4().hex, actor=PERSON, command=command)
    reply = await nc.request(subjects.crud_command("task", command.op), encode(request), timeout=5)
    return decode(CommandResult, reply.data)


async def shopping(nc: Client) -> None:
    for name in ("milk", "eggs", "bread"):
        await person(nc, TaskCreate(name=name))
    await person(nc, TaskSetDone(name="milk"))
    await person(nc, TaskSetDone(name="eggs"))


class Questions:
    """The confirmation events on the UI stream, as a browser receives them."""

    def __init__(self) -> None:
        self.seen: asyncio.Queue[Confirmation] = asyncio.Queue()

    async def on_event(self, msg: Any) -> None:
        event = decode_ui_event(msg.data)
        if isinstance(event, ConfirmationEvent):
            self.seen.put_nowait(event.confirmation)

    async def next(self) -> Confirmation:
        return await asyncio.wait_for(self.seen.get(), timeout=15)


@pytest.fixture
async def questions(nc: Client) -> AsyncIterator[Questions]:
    watcher = Questions()
    sub = await nc.jetstream().subscribe(subjects.UI_ALL, stream=subjects.UI_STREAM, cb=watcher.on_event)
    yield watcher
    await sub.unsubscribe()


async def answer(nc: Client, asked: Confirmation, approve: bool) -> DecisionReply:
    decision = Decision(call_id=asked.call_id, approve=approve)
    reply = await nc.request(subjects.chat_decide(asked.run_id), encode(decision), timeout=5)
    return decode(DecisionReply, reply.data)


def clearing() -> FakeOllama:
    """A tool-calling model that answers with clear_completed, then in words."""
    return FakeOllama(["Clearing."], calls=[("clear_completed", {})], followup=["Done as you said."])


@contextlib.asynccontextmanager
async def asked_to_clear(
    nats_server: NatsServer, nc: Client, questions: Questions, **settings: Any
) -> AsyncIterator[tuple[str, Confirmation, FakeOllama]]:
    """Two done tasks and one open, a worker whose model answers with clear_completed, and the person
    asking to clear the finished ones: the run, the question every browser is shown, and the model."""
    await shopping(nc)
    fake = clearing()
    async with serving(fake), running(worker_settings(nats_server, fake, **settings)):
        run_id = await submit(nc, "clear the finished ones")
        yield run_id, await questions.next(), fake


def worker_settings(nats_server: NatsServer, fake: FakeOllama, **settings: Any) -> Settings:
    return Settings(NATS_URL=nats_server.url, OLLAMA_HOST=fake.url, backend="ollama", strategy="tools", **settings)


def tool_results(events: list[Any]) -> list[CommandResult]:
    return [decode(CommandResult, e.content.encode()) for e in events if e.type == EventType.TOOL_CALL_RESULT]


async def test_clear_completed_waits_for_approval_then_runs_once(
    nats_server: NatsServer, nc: Client, crud: Crud, questions: Questions
) -> None:
    async with asked_to_clear(nats_server, nc, questions) as (run_id, asked, _):
        assert asked.state == "pending" and asked.run_id == run_id and asked.op == "clear_completed"
        assert asked.question == "Remove 2 completed tasks: “milk”, “eggs”?"
        # Nothing happens while the question is open.
        await asyncio.sleep(0.3)
        assert [t.name for t in await crud.db.list_tasks()] == ["milk", "eggs", "bread"]
        pending = await crud.db.pending_confirmations(60)
        assert [c.call_id for c in pending] == [asked.call_id]
        first = await answer(nc, asked, approve=True)
        second = await answer(nc, asked, approve=False)  # another tab, a moment later
        events = await events_of(nc, run_id)
        settled = await questions.next()
    assert first.accepted and first.state == "approved"
    assert not second.accepted and second.message == "It was already approved."
    assert settled.state == "approved" and settled.call_id == asked.call_id
    assert [t.name for t in await crud.db.list_tasks()] == ["bread"]
    results = tool_results(events)
    assert [r.ok for r in results] == [True]
    assert events[-1].type == EventType.RUN_FINISHED
    assert await crud.db.pending_confirmations(60) == []


async def test_a_rejection_changes_nothing_and_the_model_is_told(
    nats_server: NatsServer, nc: Client, crud: Crud, questions: Questions
) -> None:
    async with asked_to_clear(nats_server, nc, questions) as (run_id, asked, fake):
        assert (await answer(nc, asked, approve=False)).state == "rejected"
        events = await events_of(nc, run_id)
        settled = await questions.next()
    assert settled.state == "rejected"
    assert [t.name for t in await crud.db.list_tasks()] == ["milk", "eggs", "bread"]
    (result,) = tool_results(events)
    assert not result.ok and result.error and result.error.code == "rejected"
    # The model got the refusal as its tool result and answered in words.
    tool_messages = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1 and "Rejected in the chat; nothing was changed." in tool_messages[0]["content"]
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text.endswith("Done as you said.") and events[-1].type == EventType.RUN_FINISHED
    # The audit trail has the question and the answer, by the model and by the person.
    audit = [e for e in await crud.db.audit(run_id, 10) if e.op == "confirm"]
    assert [(e.command["state"], e.actor.kind) for e in audit] == [("rejected", "person"), ("pending", "model")]


async def test_no_answer_in_time_expires_and_nothing_is_applied(
    nats_server: NatsServer, nc: Client, crud: Crud, questions: Questions
) -> None:
    async with asked_to_clear(nats_server, nc, questions, confirm_timeout_s=0.5, run_timeout_s=5) as (
        run_id,
        asked,
        _,
    ):
        events = await events_of(nc, run_id)
        settled = await questions.next()
        # Too late: nobody waits any more.
        with pytest.raises(Exception, match="no responders"):
            await answer(nc, asked, approve=True)
    assert settled.state == "expired"
    (result,) = tool_results(events)
    assert result.error and result.error.message == "Nobody approved it within 0 s; nothing was changed."
    assert len(await crud.db.list_tasks()) == 3


async def test_stop_while_waiting_ends_the_run_and_closes_the_question(
    nats_server: NatsServer, nc: Client, crud: Crud, questions: Questions
) -> None:
    async with asked_to_clear(nats_server, nc, questions) as (run_id, _, _):
        await nc.publish(subjects.chat_cancel(run_id), b"")
        events = await events_of(nc, run_id)
        settled = await questions.next()
    assert events[-1].type == EventType.RUN_ERROR and events[-1].code == "cancelled"
    assert settled.state == "stopped"
    assert len(await crud.db.list_tasks()) == 3


async def test_commands_on_one_task_and_clearing_nothing_run_without_asking(
    nats_server: NatsServer, nc: Client, crud: Crud, questions: Questions
) -> None:
    await person(nc, TaskCreate(name="milk"))
    fake = FakeOllama(["OK."], calls=[("delete", {"name": "milk"}), ("clear_completed", {})], followup=["Done."])
    async with serving(fake), running(worker_settings(nats_server, fake)):
        events = await events_of(nc, await submit(nc, "remove milk and clear the done ones"))
    results = tool_results(events)
    assert [r.op for r in results] == ["delete", "clear_completed"] and results[0].ok
    assert await crud.db.list_tasks() == [] and questions.seen.empty()


async def test_a_worker_stopping_while_waiting_hands_the_question_to_the_next(
    nats_server: NatsServer, nc: Client, crud: Crud, questions: Questions
) -> None:
    await shopping(nc)
    fake = clearing()
    async with serving(fake):
        settings = worker_settings(nats_server, fake)
        async with running(settings):
            run_id = await submit(nc, "clear the finished ones")
            asked = await questions.next()
        # Stopped at once, not after the 300 s the question may wait; the question is still open.
        assert [c.call_id for c in await crud.db.pending_confirmations(60)] == [asked.call_id]
        async with running(settings):
            # The next worker asks crud again, finds the same open question and waits for its answer.
            async with asyncio.timeout(15):
                while True:
                    with contextlib.suppress(Exception):
                        if (await answer(nc, asked, approve=True)).accepted:
                            break
                    await asyncio.sleep(0.1)
            events = await events_of(nc, run_id)
            settled = await questions.next()
    assert settled.state == "approved" and questions.seen.empty()  # asked once, answered once
    assert [e.type for e in events].count(EventType.RUN_STARTED) == 2  # the browser saw it restart
    assert events[-1].type == EventType.RUN_FINISHED
    assert [t.name for t in await crud.db.list_tasks()] == ["bread"]


async def test_an_answer_given_while_no_worker_holds_the_run_is_kept_for_the_next(
    nats_server: NatsServer, nc: Client, crud: Crud, questions: Questions
) -> None:
    await shopping(nc)
    fake = clearing()
    async with serving(fake):
        settings = worker_settings(nats_server, fake)
        async with running(settings):
            run_id = await submit(nc, "clear the finished ones")
            asked = await questions.next()
        # The worker is gone, the run waits for the next one: the person approves on the page meanwhile.
        async for url in serve(GatewaySettings(NATS_URL=nats_server.url)):
            async with httpx.AsyncClient(base_url=url) as http:
                decide = f"/api/runs/{run_id}/confirmations/{asked.call_id}"
                wrong_run = await http.post(f"/api/runs/other/confirmations/{asked.call_id}", json={"approve": False})
                approved = await http.post(decide, json={"approve": True})
                late = await http.post(decide, json={"approve": False})
        assert wrong_run.status_code == 409 and wrong_run.json()["state"] == "gone"
        assert approved.status_code == 200 and approved.json() == {"state": "approved"}
        assert late.status_code == 409 and late.json()["state"] == "approved"
        assert (await questions.next()).state == "approved"  # every browser's card shows the answer
        async with running(settings):
            # The next worker finds the question answered: it clears without asking again.
            events = await events_of(nc, run_id)
    assert questions.seen.empty()
    assert events[-1].type == EventType.RUN_FINISHED
    assert [r.summary for r in tool_results(events)] == ["Cleared 2 done: “milk”, “eggs”."]
    assert [t.name for t in await crud.db.list_tasks()] == ["bread"]
