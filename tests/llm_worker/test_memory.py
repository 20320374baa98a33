"""The model hears what the person did by hand since it last answered: from crud's audit (not from any
page), briefly, oldest first, each change once; a model's own commands are not repeated to it."""

from __future__ import annotations

import re

from nats.aio.client import Client

from proto.commands import TaskCreate, TaskToggle
from proto.crud_client import CrudClient
from proto.events import EventType
from proto.messages import PERSON, Actor
from services.crud.service import Crud
from services.llm_worker.config import Settings
from services.llm_worker.worker import running
from tests.llm_worker.test_worker import events_of, submit
from tests.support.fake_ollama import FakeOllama, serving
from tests.support.natsd import NatsServer

BY_HAND = re.compile(r"^Person, \d\d:\d\d: (.*)$", re.M)


def told(request: dict[str, object]) -> list[str]:
    """The changes by hand the system prompt of one chat request lists."""
    messages = request["messages"]
    assert isinstance(messages, list) and messages[0]["role"] == "system"
    return BY_HAND.findall(messages[0]["content"])


async def test_the_next_prompt_lists_the_persons_changes_since_the_last_answer(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    client = CrudClient(nc)
    await client.execute(TaskCreate(name="milk"), PERSON)
    await client.execute(TaskCreate(name="jam"), Actor(kind="model", backend="ollama", model="other"))
    await client.execute(TaskToggle(name="milk"), PERSON)
    await client.execute(TaskToggle(name="bread"), PERSON)  # refused: nothing happened, nothing to tell
    async with serving(FakeOllama(["Noted."])) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            first = await events_of(nc, await submit(nc, "undo that"))
            await client.execute(TaskCreate(name="eggs"), PERSON)
            second = await events_of(nc, await submit(nc, "and rename the one I just added"))
    assert first[-1].type == second[-1].type == EventType.RUN_FINISHED
    assert told(fake.requests[0]) == ["added “milk”", "marked “milk” done"]
    # Only what happened since the model's answer, in the same conversation.
    assert told(fake.requests[1]) == ["added “eggs”"]
