"""The Ollama backend: a chat model served by Ollama, giving commands as native tool calls (the tools
strategy, for models that support tools) or as JSON in its answer (the inline strategy, any model)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama

from services.llm_worker import constrained
from services.llm_worker.backends.base import BackendError, Chunk, Prompt, Round, Usage
from services.llm_worker.backends.chat import (
    AnswerText,
    Strategy,
    strategy_messages,
    tool_call_command,
    tool_definitions,
)
from services.llm_worker.config import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


def _full_name(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


async def ollama_has_model(host: str, model: str, timeout_s: float = 1.0) -> bool:
    """True when an Ollama server answers at `host` within `timeout_s` and has `model` pulled."""
    client = ollama.AsyncClient(host=host, timeout=timeout_s)
    try:
        listed = await client.list()
    except (ConnectionError, httpx.HTTPError, ollama.ResponseError) as error:
        log.info("no usable Ollama at %s: %s", host, error)
        return False
    finally:
        await client.close()  # type: ignore[no-untyped-call]
    return _full_name(model) in {_full_name(m.model) for m in listed.models if m.model}


class OllamaBackend:
    """Streams a chat answer from Ollama; the command parser turns inline JSON commands into commands."""

    name = "ollama"

    def __init__(self, settings: Settings) -> None:
        self.host = settings.ollama_host
        self.model = settings.ollama_model
        self.strategy: Strategy = "inline"
        if settings.strategy in ("tools", "constrained"):
            self.strategy = settings.strategy
        self.feeds_back = self.strategy == "tools"
        self.composes_reply = self.strategy == "constrained"
        self.keep_alive = settings.ollama_keep_alive
        self._timeout = httpx.Timeout(settings.run_timeout_s, connect=CONNECT_TIMEOUT_S)
        self._client: ollama.AsyncClient | None = None

    async def start(self) -> None:
        self._client = ollama.AsyncClient(host=self.host, timeout=self._timeout)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()  # type: ignore[no-untyped-call]
            self._client = None

    async def models(self) -> list[str]:
        """The models this Ollama server has pulled."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        listed = await self._client.list()
        return sorted(m.model for m in listed.models if m.model)

    def messages(self, prompt: Prompt) -> list[dict[str, Any]]:
        return strategy_messages(self.strategy, prompt, _tool_round)

    async def stream(self, prompt: Prompt) -> AsyncIterator[Chunk]:
        if self._client is None:
            await self.start()
        assert self._client is not None
        model = prompt.model or self.model
        answer = AnswerText(self.strategy)
        final: ollama.ChatResponse | None = None
        started = False
        tools = tool_definitions() if self.strategy == "tools" else None
        schema = constrained.commands_schema() if self.strategy == "constrained" else None
        try:
            parts = await self._client.chat(
                model=model,
                messages=self.messages(prompt),
                tools=tools,
                format=schema,
                stream=True,
                keep_alive=self.keep_alive,
            )
            async for part in parts:
                started = True
                if part.message.content:
                    for item in answer.feed(part.message.content):
                        yield item
                for n, call in enumerate(part.message.tool_calls or []):
                    arguments = json.dumps(dict(call.function.arguments))
                    yield tool_call_command(f"ollama-{n}", call.function.name, arguments)
                if part.done:
                    final = part
        except ollama.ResponseError as error:
            raise self._explain(error, model, started) from error
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise BackendError(f"Ollama is not answering at {self.host}; is it running? ({error})") from error
        except httpx.HTTPError as error:
            raise BackendError(f"the connection to Ollama at {self.host} broke off: {error!r}") from error
        for item in answer.finish():
            yield item
        if final is None:
            raise BackendError("Ollama stopped before finishing the answer")
        yield _usage(final)

    def _explain(self, error: ollama.ResponseError, model: str, started: bool) -> BackendError:
        if error.status_code == 404:
            return BackendError(f"Ollama has no model “{model}”; pull it with `ollama pull {model}`")
        if started:
            return BackendError(f"Ollama failed in the middle of the answer: {error.error}")
        return BackendError(f"Ollama refused the request ({error.status_code}): {error.error}")


def _tool_round(round_: Round) -> list[dict[str, Any]]:
    """A round in Ollama's spelling: the calls' arguments as objects, each result named by its tool."""
    calls = [{"function": {"name": c.op, "arguments": _arguments(c.arguments)}} for c in round_.calls]
    out: list[dict[str, Any]] = [{"role": "assistant", "content": round_.text, "tool_calls": calls}]
    return out + [{"role": "tool", "content": c.result, "tool_name": c.op} for c in round_.calls]


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if k != "op"} if isinstance(value, dict) else {}


def _usage(final: ollama.ChatResponse) -> Usage:
    duration = final.eval_duration / 1e9 if final.eval_duration else None
    return Usage(prompt_tokens=final.prompt_eval_count, completion_tokens=final.eval_count, duration_s=duration)
