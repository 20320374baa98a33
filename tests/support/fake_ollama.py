"""A local stand-in for an Ollama server (none can run here) that speaks its real wire format:
`/api/tags` JSON and `/api/chat` streaming NDJSON, errors as `{"error": ...}` with Ollama's status codes."""

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
class FakeOllama:
    """Streams `script` (the answer's chunks) for the model `model`; records each chat request."""

    script: list[str]
    model: str = "llama3.2:latest"
    more_models: list[str] = field(default_factory=list)  # listed by /api/tags, not served
    delay_s: float = 0.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    followup: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    streaming: int = 0  # answers being streamed now (one ends when its client goes away)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/tags", self.tags), Route("/api/chat", self.chat, methods=["POST"])])

    async def tags(self, request: Request) -> Response:
        models = [
            {"name": name, "model": name, "size": 1, "digest": "0" * 64, "details": {}}
            for name in (self.model, *self.more_models)
        ]
        return JSONResponse({"models": models})

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        name = body["model"] if ":" in body["model"] else body["model"] + ":latest"
        if name not in (self.model, BROKEN + ":latest"):
            return JSONResponse({"error": f'model "{body["model"]}" not found, try pulling it first'}, 404)
        last = body["messages"][-1]
        correcting = last["role"] == "user" and last["content"].startswith("These commands were not carried out")
        if correcting or any(m["role"] == "tool" for m in body["messages"]):
            stream = self._stream(body["model"], False, self.followup, [])
        else:
            # "{item}" in the script stands for what the person asked to add ("please add item 3").
            item = last["content"].rsplit("add ", 1)[-1]
            script = [piece.replace("{item}", item) for piece in self.script]
            stream = self._stream(body["model"], name == BROKEN + ":latest", script, self.calls)
        return StreamingResponse(stream, media_type="application/x-ndjson")

    async def _stream(
        self, model: str, breaks: bool, script: list[str], calls: list[tuple[str, dict[str, Any]]]
    ) -> AsyncIterator[bytes]:
        self.streaming += 1
        try:
            async for line in self._lines(model, breaks, script, calls):
                yield line
        finally:
            self.streaming -= 1

    async def _lines(
        self, model: str, breaks: bool, script: list[str], calls: list[tuple[str, dict[str, Any]]]
    ) -> AsyncIterator[bytes]:
        for n, piece in enumerate(script):
            if breaks and n == 2:
                yield (
                    json.dumps({"error": "an error was encountered while running the model: out of memory"}).encode()
                    + b"\n"
                )
                return
            line = {
                "model": model,
                "created_at": "2026-11-24T10:00:00Z",
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            yield json.dumps(line).encode() + b"\n"
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        if calls:
            message = {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": name, "arguments": args}} for name, args in calls],
            }
            line = {"model": model, "created_at": "2026-11-24T10:00:00Z", "message": message, "done": False}
            yield json.dumps(line).encode() + b"\n"
        final = {
            "model": model,
            "created_at": "2026-11-24T10:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 900_000_000,
            "prompt_eval_count": 120,
            "eval_count": len(script) + len(calls),
            "eval_duration": 500_000_000,
        }
        yield json.dumps(final).encode() + b"\n"


@asynccontextmanager
async def serving(fake: FakeOllama) -> AsyncIterator[FakeOllama]:
    """The fake on a free loopback port under real uvicorn."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
