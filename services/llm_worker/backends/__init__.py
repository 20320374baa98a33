"""Model backends, and choosing one from the settings."""

from __future__ import annotations

import logging

from services.llm_worker.backends.base import Backend
from services.llm_worker.backends.ollama import OllamaBackend, ollama_has_model
from services.llm_worker.config import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0


async def make_backend(settings: Settings) -> Backend:
    """The backend the settings ask for; "auto" is Ollama when it answers and has the model, else embedded."""
    if settings.backend == "ollama":
        return OllamaBackend(settings)
    if settings.backend == "scripted":
        from services.llm_worker.backends.scripted import ScriptedBackend

        return ScriptedBackend(settings)
    if settings.backend == "openai":
        from services.llm_worker.backends.openai import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.backend == "auto" and await ollama_has_model(
        settings.ollama_host, settings.ollama_model, PROBE_TIMEOUT_S
    ):
        return OllamaBackend(settings)
    if settings.backend == "auto":
        log.info(
            "using the embedded model: no Ollama with %s answers at %s", settings.ollama_model, settings.ollama_host
        )
    # Imported here: it loads llama-cpp-python, which an Ollama-only install does not have.
    from services.llm_worker.backends.embedded import EmbeddedBackend  # type: ignore[import-not-found,unused-ignore]

    embedded: Backend = EmbeddedBackend(settings)
    return embedded
