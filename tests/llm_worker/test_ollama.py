"""The Ollama backend against a local server speaking Ollama's NDJSON: text streams, inline commands
are cut out however the chunks fall, and every failure is a sentence a person can act on."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from proto.commands import TaskCreate
from proto.events import EventType
from services.crud.service import Crud
from services.llm_worker.backends import make_backend
from services.llm_worker.backends.base import BackendError, Chunk, CommandOut, Prompt, TextDelta, Usage
from services.llm_worker.backends.ollama import OllamaBackend, ollama_has_model
from services.llm_worker.config import Settings
from services.llm_worker.worker import running
from tests.llm_worker.test_worker import events_of, submit
from tests.support.fake_ollama import BROKEN, FakeOllama, serving
from tests.support.natsd import NatsServer

SCRIPT = ["Sure", '! {"op": "cre', 'ate", "name"', ': "apples"}', "\nAdded ", "apples."]


async def collect(backend: OllamaBackend, prompt: Prompt) -> list[Chunk]:
    try:
        return [chunk async for chunk in backend.stream(prompt)]
    finally:
        await backend.close()


async def test_text_streams_and_the_split_command_is_cut_out() -> None:
    async with serving(FakeOllama(SCRIPT)) as fake:
        backend = OllamaBackend(Settings(OLLAMA_HOST=fake.url, OLLAMA_MODEL="llama3.2"))
        chunks = await collect(backend, Prompt(text="add apples", tasks=[]))
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert [c.command for c in chunks if isinstance(c, CommandOut)] == [TaskCreate(name="apples")]
    assert "{" not in text and "op" not in text and "Added apples." in text
    usage = chunks[-1]
    assert isinstance(usage, Usage) and usage.completion_tokens == len(SCRIPT) and usage.duration_s == 0.5
    sent = fake.requests[0]
    assert sent["stream"] is True and sent["model"] == "llama3.2"
    assert sent["messages"][0]["role"] == "system" and '"op": "create"' in sent["messages"][0]["content"]
    assert sent["messages"][-1] == {"role": "user", "content": "add apples"}


async def test_a_model_that_does_not_exist_says_how_to_get_it() -> None:
    async with serving(FakeOllama(SCRIPT)) as fake:
        backend = OllamaBackend(Settings(OLLAMA_HOST=fake.url, OLLAMA_MODEL="nosuch"))
        with pytest.raises(BackendError, match="ollama pull nosuch"):
            await collect(backend, Prompt(text="hi", tasks=[]))


async def test_an_error_mid_stream_is_reported_as_such() -> None:
    async with serving(FakeOllama(SCRIPT)) as fake:
        backend = OllamaBackend(Settings(OLLAMA_HOST=fake.url, OLLAMA_MODEL=BROKEN))
        with pytest.raises(BackendError, match="out of memory"):
            await collect(backend, Prompt(text="hi", tasks=[]))


async def test_no_server_is_a_clear_error() -> None:
    backend = OllamaBackend(Settings(OLLAMA_HOST="http://127.0.0.1:9", OLLAMA_MODEL="llama3.2"))
    with pytest.raises(BackendError, match="not answering"):
        await collect(backend, Prompt(text="hi", tasks=[]))


async def test_auto_picks_ollama_only_when_it_has_the_model(tmp_path: object) -> None:
    async with serving(FakeOllama(SCRIPT)) as fake:
        assert await ollama_has_model(fake.url, "llama3.2")
        assert not await ollama_has_model(fake.url, "mistral")
        chosen = await make_backend(Settings(OLLAMA_HOST=fake.url, OLLAMA_MODEL="llama3.2"))
        assert chosen.name == "ollama"
    assert not await ollama_has_model("http://127.0.0.1:9", "llama3.2")


async def test_tools_strategy_native_calls_and_results_fed_back(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    fake = FakeOllama(["Sure."], calls=[("create", {"name": "apples"})], followup=["Added ", "apples."])
    async with serving(fake):
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url, strategy="tools")
        async with running(settings):
            events = await events_of(nc, await submit(nc, "add apples"))
    first, second = fake.requests
    assert {t["function"]["name"] for t in first["tools"]} >= {"create", "toggle"} and first["keep_alive"] == "10m"
    assert second["messages"][-2]["tool_calls"] == [{"function": {"name": "create", "arguments": {"name": "apples"}}}]
    assert second["messages"][-1]["role"] == "tool" and "Added “apples”." in second["messages"][-1]["content"]
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text == "Sure.Added apples."
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]


async def test_the_model_list_comes_from_the_server() -> None:
    async with serving(FakeOllama(SCRIPT)) as fake:
        backend = OllamaBackend(Settings(OLLAMA_HOST=fake.url))
        try:
            assert await backend.models() == ["llama3.2:latest"]
        finally:
            await backend.close()
