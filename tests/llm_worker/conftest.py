"""The embedded model, assembled once for the whole test session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.llm_worker.backends.embedded import EmbeddedBackend, model_path
from services.llm_worker.config import Settings


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    model_path(directory)
    return directory


@pytest.fixture(scope="module")
def embedded(model_dir: Path) -> Iterator[EmbeddedBackend]:
    """The real Gemma 3 270M backend, loaded once per test module (loading is not tied to an event loop)."""
    backend = EmbeddedBackend(Settings(model_dir=model_dir))
    asyncio.run(backend.start())
    yield backend
    asyncio.run(backend.close())
