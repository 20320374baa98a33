"""A local server that speaks Ollama's `/api/chat` streaming NDJSON (and `/api/tags`) from the scripted
backend's script, so the Ollama backend can be measured on the wire: every content piece is one
token stamped with the time the server wrote it, and each command is an inline JSON line the
worker's command parser has to cut out of the stream.

`python -m bench.ollama_server` reads the worker's own settings: it listens where OLLAMA_HOST points and
streams the script of LLM_SCRIPT_TOKENS, LLM_SCRIPT_RATE and LLM_SCRIPT_COMMANDS."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.llm_worker.backends.scripted import Script
from services.llm_worker.config import Settings

MODEL = "scripted:latest"


def line(model: str, content: str, done: bool = False, **extra: object) -> bytes:
    """One NDJSON line of an Ollama chat stream."""
    body = {
        "model": model,
        "created_at": datetime.now(UTC).isoformat(),
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    return json.dumps(body | extra).encode() + b"\n"


def app(script: Script) -> Starlette:
    async def tags(request: Request) -> Response:
        return JSONResponse({"models": [{"name": MODEL, "model": MODEL, "size": 1, "digest": "0" * 64, "details": {}}]})

    async def chat(request: Request) -> Response:
        body = await request.json()
        model = body.get("model", MODEL)
        return StreamingResponse(answer(model), media_type="application/x-ndjson")

    async def answer(model: str) -> AsyncIterator[bytes]:
        started = time.monotonic_ns()
        async for text in script.texts():
            yield line(model, text)
        for name in script.command_names():
            yield line(model, "\n" + json.dumps({"op": "create", "name": name}) + "\n")
        took = time.monotonic_ns() - started
        yield line(
            model,
            "",
            done=True,
            done_reason="stop",
            total_duration=took,
            prompt_eval_count=1,
            eval_count=script.tokens,
            eval_duration=took,
        )

    return Starlette(routes=[Route("/api/tags", tags), Route("/api/chat", chat, methods=["POST"])])


def main() -> None:
    settings = Settings()
    script = Script.from_settings(settings)
    where = urlsplit(settings.ollama_host)
    config = uvicorn.Config(
        app(script),
        host=where.hostname or "127.0.0.1",
        port=where.port or 11434,
        log_level="info",
        access_log=False,
        lifespan="off",
    )
    print(f"ollama stand-in at {settings.ollama_host}: {script}", flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
