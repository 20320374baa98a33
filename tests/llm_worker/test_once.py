"""Exactly once per intent, on the bus with the real crud: a redelivered run whose model now asks for
something else gets it done; one that asks the same again gets what was done, never a second copy."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import decode, encode
from proto.commands import TaskCreate
from proto.events import EventType
from proto.messages import Actor, CommandRequest, CommandResult, ListRequest, TaskList
from services.crud.service import Crud
from services.llm_worker.config import Settings
from services.llm_worker.worker import running
from tests.llm_worker.test_worker import events_of, submit
from tests.support.fake_ollama import FakeOllama, serving
from tests.support.natsd import NatsServer

MODEL = Actor(kind="model", backend="ollama", model="llama3.2:latest")


async def names(nc: Client) -> list[str]:
    reply = await nc.request(subjects.TASK_LIST, encode(ListRequest()), timeout=5)
    return [t.name for t in decode(TaskList, reply.data).tasks]


async def first_attempt_applied(nc: Client, run_id: str, name: str) -> None:
    """A first attempt of the run that applied its first command, then died without acknowledging."""
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    (taken,) = await queue.fetch(1, timeout=5)
    done = CommandRequest(command_id=f"{run_id}-1", actor=MODEL, run_id=run_id, command=TaskCreate(name=name))
    reply = await nc.request(subjects.crud_command("task", "create"), encode(done), timeout=5)
    assert decode(CommandResult, reply.data).ok
    await taken.nak()
    await queue.unsubscribe()


@pytest.mark.parametrize(
    ("asked_now", "expected", "said"),
    [
        # It sees A on the list and goes on with B: B is created (it used to get A's stored result).
        ("B", ["A", "B"], "Added “B”."),
        # It asks for A again: what the first attempt did, not a second A.
        ("A", ["A"], "Added “A”."),
    ],
)
async def test_a_redelivered_run_gets_what_its_model_asks_now_exactly_once(
    nats_server: NatsServer, nc: Client, crud: Crud, asked_now: str, expected: list[str], said: str
) -> None:
    run_id = await submit(nc, "add A and B")
    await first_attempt_applied(nc, run_id, "A")
    fake = FakeOllama(["On it."], calls=[("create", {"name": asked_now})], followup=["Done."])
    async with serving(fake):
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            events = await events_of(nc, run_id)
    assert events[-1].type == EventType.RUN_FINISHED
    results = [json.loads(e.content) for e in events if e.type == EventType.TOOL_CALL_RESULT]
    assert [r["summary"] for r in results] == [said]
    assert await names(nc) == expected
