"""Any OpenAI-compatible chat endpoint (OpenAI, Groq, OpenRouter, vLLM, a llama.cpp server, Ollama's
/v1): streamed chat completions over SSE, with native tool calls (the tools strategy) or inline
commands cut out of the text (the inline strategy)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from proto.commands import COMMANDS, command_adapter
from services.llm_worker import constrained
from services.llm_worker.backends.base import (
    BackendError,
    Chunk,
    CommandOut,
    InvalidCommand,
    Prompt,
    TextDelta,
    Usage,
)
from services.llm_worker.commands import CommandParser
from services.llm_worker.config import Settings
from services.llm_worker.prompt import chat_messages, inline_corrections, system_prompt

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
TOOLS_SYSTEM = """\
You are ghostbus, the assistant inside a shared task list app. People chat with you to change the \
list or to ask about it. Change the list only with the tools, one call per change; then confirm in a \
few plain words. For a question or small talk, just answer briefly.

The task list right now:
{tasks}"""


def tool_definitions() -> list[dict[str, Any]]:
    """One function per command of the language, generated from the proto models (the one source)."""
    tools = []
    for cls in COMMANDS:
        schema = cls.model_json_schema()
        properties = {k: v for k, v in schema.get("properties", {}).items() if k != "op"}
        parameters: dict[str, Any] = {"type": "object", "properties": properties}
        required = [r for r in schema.get("required", []) if r != "op"]
        if required:
            parameters["required"] = required
        if "$defs" in schema:
            parameters["$defs"] = schema["$defs"]
        op = cls.model_fields["op"].default
        description = (cls.__doc__ or op).strip()
        function = {"name": op, "description": description, "parameters": parameters}
        tools.append({"type": "function", "function": function})
    return tools


def tool_call_command(call_id: str, name: str, arguments: str) -> CommandOut | InvalidCommand:
    """A native tool call as a validated command, or the reason it is not one (for the model to fix)."""
    try:
        args = json.loads(arguments or "{}")
        if not isinstance(args, dict):
            raise ValueError("the arguments must be a JSON object")
    except ValueError as error:
        return InvalidCommand(arguments, f"the arguments are not valid JSON: {error}", call_id, name)
    try:
        return CommandOut(command_adapter.validate_python({**args, "op": name}), call_id)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or name}: {e['msg']}" for e in error.errors(include_url=False)
        )
        return InvalidCommand(arguments, f"{name} was called wrongly: {problems}", call_id, name)


@dataclass
class _PendingCall:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIBackend:
    """Streams from `{base_url}/chat/completions`; `strategy` is "tools" or "inline"."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.openai_base_url.rstrip("/")
        self.model = settings.openai_model
        self.strategy = settings.strategy if settings.strategy in ("inline", "constrained") else "tools"
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
        if self.strategy == "constrained":
            return constrained.messages(prompt)
        if self.strategy == "inline":
            messages: list[dict[str, Any]] = list(chat_messages(prompt))
            return messages + inline_corrections(prompt)
        else:
            tasks = system_prompt(prompt.tasks).split("The task list right now:\n", 1)[-1]
            messages = [{"role": "system", "content": TOOLS_SYSTEM.format(tasks=tasks)}]
            messages += [{"role": t.role, "content": t.text} for t in prompt.history]
            messages.append({"role": "user", "content": prompt.text})
        for round_ in prompt.rounds:
            calls = [
                {"id": c.call_id, "type": "function", "function": {"name": c.op, "arguments": c.arguments}}
                for c in round_.calls
            ]
            messages.append({"role": "assistant", "content": round_.text or None, "tool_calls": calls})
            messages += [{"role": "tool", "tool_call_id": c.call_id, "content": c.result} for c in round_.calls]
        return messages

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
        answer: list[str] = []
        parser = CommandParser()
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
                            if self.strategy == "constrained":
                                answer.append(delta["content"])
                            elif self.strategy == "inline":
                                for item in parser.feed(delta["content"]):
                                    yield item
                            else:
                                yield TextDelta(delta["content"])
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
        for item in parser.finish():
            yield item
        if self.strategy == "constrained":
            for command in constrained.parse("".join(answer)):
                yield command
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
