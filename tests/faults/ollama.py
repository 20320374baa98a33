"""A scripted stand-in for Ollama that the fault scenarios steer: each `/api/chat` answer is chosen by
the scenario from the request (the person's words, a retry, a correction) and may pause at a gate, so a
process can be killed or frozen at the worst moment. It streams Ollama's real NDJSON wire format; the
lines are those of tests/support/fake_ollama.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.support import fake_ollama

CORRECTION = "These commands were not carried out"


@dataclass(frozen=True)
class Gate:
    """Hold the answer here until `open` is set (a scenario's moment to strike)."""

    open: asyncio.Event


@dataclass(frozen=True)
class Mark:
    """Tell the scenario that the answer got this far (every chunk before it is on the wire)."""

    reached: asyncio.Event


Step = str | Gate | Mark


def command(op: str, **args: object) -> str:
    """An inline command line, as a model following the system prompt writes it."""
    return json.dumps({"op": op, **args}) + "\n"


@dataclass
class Asked:
    """One chat request as the scenario sees it."""

    text: str  # the person's message
    attempt: int  # how many times this message was asked (a redelivered run asks again)
    correcting: bool  # the worker tells the model which commands were not carried out
    correction: str  # that message's text, when correcting
    body: dict[str, Any]


Answer = Callable[[Asked], list[Step]]


@dataclass
class ScriptedOllama(fake_ollama.FakeOllama):
    """The answer to each request is `answer(asked)`; chunks go out `delay_s` apart."""

    answer: Answer = field(default=lambda asked: ["Hello."])
    script: list[str] = field(default_factory=list)
    asked: list[Asked] = field(default_factory=list)
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # every gate opens: the test is over

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        messages = body["messages"]
        last = messages[-1]
        correcting = last["role"] == "user" and last["content"].startswith(CORRECTION)
        said = [m["content"] for m in messages if m["role"] == "user"]
        text = said[-2] if correcting else said[-1]
        earlier = sum(1 for a in self.asked if a.text == text and not a.correcting)
        asked = Asked(text, earlier if correcting else earlier + 1, correcting, last["content"], body)
        self.asked.append(asked)
        return StreamingResponse(self._steps(body["model"], self.answer(asked)), media_type="application/x-ndjson")

    async def _steps(self, model: str, steps: list[Step]) -> AsyncIterator[bytes]:
        self.streaming += 1
        try:
            for step in steps:
                if isinstance(step, Gate):
                    opened = [asyncio.ensure_future(e.wait()) for e in (step.open, self.closing)]
                    try:
                        await asyncio.wait(opened, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiting in opened:
                            waiting.cancel()
                elif isinstance(step, Mark):
                    step.reached.set()
                else:
                    yield _line(model, step, done=False)
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
            yield _line(model, "", done=True, count=len(steps))
        finally:
            self.streaming -= 1


def _line(model: str, content: str, done: bool, count: int = 0) -> bytes:
    line: dict[str, Any] = {
        "model": model,
        "created_at": "2026-11-24T10:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        line |= {
            "done_reason": "stop",
            "total_duration": 900_000_000,
            "prompt_eval_count": 120,
            "eval_count": count,
            "eval_duration": 500_000_000,
        }
    return json.dumps(line).encode() + b"\n"


@asynccontextmanager
async def serving(answer: Answer, delay_s: float = 0.0) -> AsyncIterator[ScriptedOllama]:
    """The scripted fake on a free loopback port under real uvicorn (in the test's own event loop)."""
    fake = ScriptedOllama(script=[], answer=answer, delay_s=delay_s)
    async with fake_ollama.serving(fake):
        try:
            yield fake
        finally:
            fake.closing.set()
