"""The OpenAI-compatible backend against a local server speaking the real SSE format: streamed tool
calls become commands, results go back to the model for another round, mistakes are explained."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from proto.commands import TaskCreate
from proto.events import EventType
from services.crud.service import Crud
from services.llm_worker.backends.base import BackendError, Chunk, CommandOut, InvalidCommand, Prompt, TextDelta, Usage
from services.llm_worker.backends.chat import tool_definitions
from services.llm_worker.backends.openai import OpenAIBackend
from services.llm_worker.config import Settings
from services.llm_worker.worker import running
from tests.llm_worker.test_worker import events_of, submit
from tests.support.fake_openai import BROKEN, FakeOpenAI, Turn, serving
from tests.support.natsd import NatsServer

ADD_APPLES = Turn(text=["Adding."], calls=[("create", ['{"na', 'me": "app', 'les"}'])])
DONE = Turn(text=["Added ", "apples."])


def backend(url: str, model: str = "gpt-test", key: str = "sk-test", strategy: str = "tools") -> OpenAIBackend:
    return OpenAIBackend(Settings(OPENAI_BASE_URL=url, OPENAI_MODEL=model, OPENAI_API_KEY=key, strategy=strategy))


async def collect(chosen: OpenAIBackend, prompt: Prompt) -> list[Chunk]:
    try:
        return [chunk async for chunk in chosen.stream(prompt)]
    finally:
        await chosen.close()


async def test_streamed_tool_call_pieces_become_one_command() -> None:
    async with serving(FakeOpenAI([ADD_APPLES])) as fake:
        chunks = await collect(backend(fake.url), Prompt(text="add apples", tasks=[]))
        sent = fake.requests[0]
    assert [c for c in chunks if isinstance(c, CommandOut)] == [CommandOut(TaskCreate(name="apples"), "call_0")]
    assert [c.text for c in chunks if isinstance(c, TextDelta)] == ["Adding."]
    usage = chunks[-1]
    assert isinstance(usage, Usage) and usage.completion_tokens == 2 and usage.prompt_tokens == 50
    assert sent["stream"] is True and {t["function"]["name"] for t in sent["tools"]} >= {"create", "undo", "reorder"}


def test_tools_are_generated_from_the_command_language() -> None:
    create = next(t["function"] for t in tool_definitions() if t["function"]["name"] == "create")
    assert create["parameters"]["required"] == ["name"] and "op" not in create["parameters"]["properties"]
    assert create["description"].startswith("Add a new task")


async def test_a_wrong_tool_call_is_explained_for_the_model() -> None:
    turn = Turn(calls=[("create", ['{"name": 42}']), ("fly", ["{}"]), ("delete", ["{not json"])])
    async with serving(FakeOpenAI([turn])) as fake:
        chunks = await collect(backend(fake.url), Prompt(text="x", tasks=[]))
    errors = [c for c in chunks if isinstance(c, InvalidCommand)]
    assert [e.op for e in errors] == ["create", "fly", "delete"]
    assert "create was called wrongly: name" in errors[0].error
    assert "not valid JSON" in errors[2].error


@pytest.mark.parametrize(
    ("model", "key", "message"),
    [
        ("nosuch", "sk-test", "has no model “nosuch”"),
        ("gpt-test", "sk-wrong", "refused the API key"),
        (BROKEN, "sk-test", "failed in the middle of the answer"),
    ],
)
async def test_failures_are_sentences_a_person_can_act_on(model: str, key: str, message: str) -> None:
    async with serving(FakeOpenAI([Turn(text=["a", "b", "c"])], model="gpt-test")) as fake:
        with pytest.raises(BackendError, match=message):
            await collect(backend(fake.url, model=model, key=key), Prompt(text="x", tasks=[]))


async def test_inline_strategy_cuts_commands_out_of_the_text() -> None:
    turn = Turn(text=["On it ", '{"op": "create",', ' "name": "jam"}', " done."])
    async with serving(FakeOpenAI([turn])) as fake:
        chunks = await collect(backend(fake.url, strategy="inline"), Prompt(text="add jam", tasks=[]))
        assert "tools" not in fake.requests[0]
    assert [c.command for c in chunks if isinstance(c, CommandOut)] == [TaskCreate(name="jam")]
    assert "{" not in "".join(c.text for c in chunks if isinstance(c, TextDelta))


async def test_results_go_back_to_the_model_which_answers_again(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    async with serving(FakeOpenAI([ADD_APPLES, DONE])) as fake:
        settings = Settings(
            NATS_URL=nats_server.url,
            backend="openai",
            OPENAI_BASE_URL=fake.url,
            OPENAI_MODEL="gpt-test",
            OPENAI_API_KEY="sk-test",
        )
        async with running(settings):
            events = await events_of(nc, await submit(nc, "add apples"))
        second = fake.requests[1]["messages"]
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text == "Adding.Added apples."
    assert second[-2]["tool_calls"][0]["function"] == {"name": "create", "arguments": '{"op":"create","name":"apples"}'}
    assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"])["summary"] == "Added “apples”."
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]
    assert events[-1].type == EventType.RUN_FINISHED and events[-1].result["model"] == "gpt-test"
