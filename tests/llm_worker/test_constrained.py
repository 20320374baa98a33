"""The constrained strategy on remote backends: the answer is held to a JSON schema of commands
(Ollama's `format=`, OpenAI's `response_format`), and the reply is written from the results."""

from __future__ import annotations

from nats.aio.client import Client

from proto.events import EventType
from services.crud.service import Crud
from services.llm_worker.backends.base import CommandOut, InvalidCommand
from services.llm_worker.config import Settings
from services.llm_worker.constrained import commands_schema, parse
from services.llm_worker.worker import running
from tests.llm_worker.test_worker import events_of, submit
from tests.support import fake_ollama, fake_openai
from tests.support.natsd import NatsServer

ANSWER = ['{"commands": [{"op": "cre', 'ate", "name": "apples"}, {"op": "create", "name": ""}]}']


def test_the_schema_is_the_command_language() -> None:
    schema = commands_schema()
    item = schema["properties"]["commands"]["items"]
    assert set(item["discriminator"]["mapping"]) >= {"create", "toggle", "undo", "reorder"}
    assert "$defs" in schema


def test_answers_are_parsed_and_bad_commands_named() -> None:
    good, bad = parse("".join(ANSWER))
    assert isinstance(good, CommandOut) and good.command.op == "create"
    assert isinstance(bad, InvalidCommand) and bad.op == "create" and "at least 1 character" in bad.error
    (broken,) = parse("not json")
    assert isinstance(broken, InvalidCommand) and "not the commands JSON" in broken.error


async def test_ollama_constrained_composes_the_reply(nats_server: NatsServer, nc: Client, crud: Crud) -> None:
    async with fake_ollama.serving(fake_ollama.FakeOllama(ANSWER)) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url, strategy="constrained")
        async with running(settings):
            events = await events_of(nc, await submit(nc, "add apples"))
    sent = fake.requests[0]
    assert sent["format"] == commands_schema() and not sent.get("tools")
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text.startswith("Added “apples”.") and "I could not do that" in text
    assert "{" not in text
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]


async def test_openai_constrained_sends_a_json_schema_response_format(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    turn = fake_openai.Turn(text=ANSWER)
    async with fake_openai.serving(fake_openai.FakeOpenAI([turn])) as fake:
        settings = Settings(
            NATS_URL=nats_server.url,
            backend="openai",
            OPENAI_BASE_URL=fake.url,
            OPENAI_MODEL="gpt-test",
            OPENAI_API_KEY="sk-test",
            strategy="constrained",
        )
        async with running(settings):
            events = await events_of(nc, await submit(nc, "add apples"))
    sent = fake.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == commands_schema()
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text.startswith("Added “apples”.")
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]
