"""A local stand-in for an OpenAI-compatible endpoint (none can be reached here) that speaks the real
wire format: `GET /models`, and `POST /chat/completions` streaming `data: {chat.completion.chunk}` SSE
lines ending in `data: [DONE]`, with tool-call deltas split across chunks, a usage chunk, errors as
`{"error": {...}}` with the usual status codes, and an error in the middle of a stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.stack import free_port

BROKEN = "breaks-midway"


@dataclass
class Turn:
    """What the model answers in one round: text pieces, then tool calls (name, arguments pieces)."""

    text: list[str] = field(default_factory=list)
    calls: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class FakeOpenAI:
    turns: list[Turn]
    model: str = "gpt-test"
    key: str = "sk-test"
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/v1/models", self.models), Route("/v1/chat/completions", self.chat, methods=["POST"])]
        )

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.key}"

    async def models(self, request: Request) -> Response:
        data = [{"id": self.model, "object": "model", "owned_by": "test"}]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        if not self._authorized(request):
            error = {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return JSONResponse({"error": error}, status_code=401)
        body = await request.json()
        self.requests.append(body)
        if body["model"] not in (self.model, BROKEN):
            error = {
                "message": f"The model `{body['model']}` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "code": "model_not_found",
            }
            return JSONResponse({"error": error}, status_code=404)
        rounds = sum(1 for m in body["messages"] if m["role"] == "assistant" and m.get("tool_calls"))
        turn = self.turns[min(rounds, len(self.turns) - 1)]
        return StreamingResponse(self._stream(turn, body["model"] == BROKEN), media_type="text/event-stream")

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_790_000_000,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()

    async def _stream(self, turn: Turn, breaks: bool) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        for n, piece in enumerate(turn.text):
            if breaks and n == 1:
                error = {"message": "The server had an error while processing your request.", "type": "server_error"}
                yield f"data: {json.dumps({'error': error})}\n\n".encode()
                return
            yield self._chunk({"content": piece})
            await asyncio.sleep(0)
        for index, (name, pieces) in enumerate(turn.calls):
            function = {"name": name, "arguments": ""}
            first = {"index": index, "id": f"call_{index}", "type": "function", "function": function}
            yield self._chunk({"tool_calls": [first]})
            for piece in pieces:
                yield self._chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield self._chunk({}, "tool_calls" if turn.calls else "stop")
        usage = {"prompt_tokens": 50, "completion_tokens": len(turn.text) + len(turn.calls), "total_tokens": 0}
        last = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": usage}
        yield f"data: {json.dumps(last)}\n\n".encode()
        yield b"data: [DONE]\n\n"


@asynccontextmanager
async def serving(fake: FakeOpenAI) -> AsyncIterator[FakeOpenAI]:
    port = free_port()
    config = uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
