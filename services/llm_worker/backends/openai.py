"""Any OpenAI-compatible chat endpoint (OpenAI, Groq, OpenRouter, vLLM, a llama.cpp server, Ollama's
/v1): streamed chat completions over SSE, with native tool calls (the tools strategy), inline commands
cut out of the text (the inline strategy) or a JSON schema of commands (the constrained strategy)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

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


@dataclass
class _PendingCall:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIBackend:
    """Streams from `{base_url}/chat/completions`; `strategy` is "tools", "inline" or "constrained"."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.openai_base_url.rstrip("/")
        self.model = settings.openai_model
        self.strategy: Strategy = "tools"
        if settings.strategy in ("inline", "constrained"):
            self.strategy = settings.strategy
        self.feeds_back = self.strategy == "tools"
        self.composes_reply = self.strategy == "constrained"
        self._key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self._timeout = httpx.Timeout(settings.run_timeout_s, connect=CONNECT_TIMEOUT_S)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=self._timeout)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def models(self) -> list[str]:
        """The endpoint's model list (`GET /models`)."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        response = await self._client.get("/models")
        response.raise_for_status()
        return sorted(m["id"] for m in response.json().get("data", []))

    def messages(self, prompt: Prompt) -> list[dict[str, Any]]:
        return strategy_messages(self.strategy, prompt, _tool_round)

    async def stream(self, prompt: Prompt) -> AsyncIterator[Chunk]:
        if self._client is None:
            await self.start()
        assert self._client is not None
        model = prompt.model or self.model
        body: dict[str, Any] = {
            "model": model,
            "messages": self.messages(prompt),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.strategy == "tools":
            body["tools"] = tool_definitions()
        if self.strategy == "constrained":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "commands", "schema": constrained.commands_schema()},
            }
        answer = AnswerText(self.strategy)
        calls: dict[int, _PendingCall] = {}
        usage: Usage | None = None
        started = time.monotonic()
        first: float | None = None
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    raise self._refused(response.status_code, await response.aread(), model)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        message = chunk["error"].get("message", chunk["error"])
                        raise BackendError(f"the model failed in the middle of the answer: {message}")
                    if chunk.get("usage"):
                        u = chunk["usage"]
                        usage = Usage(u.get("prompt_tokens"), u.get("completion_tokens"))
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        if first is None and (delta.get("content") or delta.get("tool_calls")):
                            first = time.monotonic()
                        if delta.get("content"):
                            for item in answer.feed(delta["content"]):
                                yield item
                        for call in delta.get("tool_calls") or []:
                            pending = calls.setdefault(int(call.get("index", 0)), _PendingCall())
                            pending.call_id = call.get("id") or pending.call_id
                            function = call.get("function") or {}
                            pending.name = function.get("name") or pending.name
                            pending.arguments.append(function.get("arguments") or "")
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise BackendError(f"the model endpoint at {self.base_url} is not answering ({error})") from error
        except httpx.HTTPError as error:
            raise BackendError(f"the connection to {self.base_url} broke off: {error!r}") from error
        except ValueError as error:
            raise BackendError(f"the model endpoint sent something that is not its format: {error}") from error
        for item in answer.finish():
            yield item
        for index in sorted(calls):
            pending = calls[index]
            yield tool_call_command(pending.call_id or f"call_{index}", pending.name, "".join(pending.arguments))
        elapsed = time.monotonic() - started
        usage = usage or Usage()
        yield Usage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            duration_s=elapsed - ((first - started) if first else 0),
            first_token_s=(first - started) if first else None,
        )

    def _refused(self, status: int, body: bytes, model: str) -> BackendError:
        try:
            error = json.loads(body).get("error", {})
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            code = error.get("code") if isinstance(error, dict) else None
        except ValueError:
            message, code = body[:300].decode(errors="replace"), None
        if status == 404 or code == "model_not_found":
            return BackendError(f"the endpoint has no model “{model}”: {message}")
        if status in (401, 403):
            return BackendError(f"the endpoint refused the API key (set OPENAI_API_KEY): {message}")
        if status == 429:
            return BackendError(f"the endpoint is rate limiting us; try again shortly: {message}")
        return BackendError(f"the model endpoint refused the request ({status}): {message}")


def _tool_round(round_: Round) -> list[dict[str, Any]]:
    """A round in OpenAI's spelling: the calls with their ids and JSON arguments, each result by call id."""
    calls = [
        {"id": c.call_id, "type": "function", "function": {"name": c.op, "arguments": c.arguments}}
        for c in round_.calls
    ]
    out: list[dict[str, Any]] = [{"role": "assistant", "content": round_.text or None, "tool_calls": calls}]
    return out + [{"role": "tool", "tool_call_id": c.call_id, "content": c.result} for c in round_.calls]
