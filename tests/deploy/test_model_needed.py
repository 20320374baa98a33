"""`make run` installs the embedded model only when the worker would use it."""

from __future__ import annotations

import asyncio

from tests.support.fake_ollama import FakeOllama, serving
from tests.support.stack import free_port
from tools.model_needed import reason_not_needed


async def test_the_embedded_model_is_skipped_only_when_another_backend_will_answer() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    assert reason_not_needed("openai", nobody) == "LLM_BACKEND=openai"
    assert reason_not_needed("ollama", nobody) == "LLM_BACKEND=ollama"
    assert reason_not_needed("embedded", nobody) is None
    assert reason_not_needed("auto", nobody) is None
    async with serving(FakeOllama(["hi"])) as fake:
        # In a thread: the check blocks, and the fake server answers on this event loop.
        assert await asyncio.to_thread(reason_not_needed, "auto", fake.url) == f"Ollama answers at {fake.url}"
        assert await asyncio.to_thread(reason_not_needed, "embedded", fake.url) is None
