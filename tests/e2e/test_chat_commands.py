"""Chat commands ("!help") are not model runs: with every worker busy and a message waiting in the model
queue, a command is still answered at once, by a worker, through the whole stack as processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.gateway.test_chat import receive, ws_url
from tests.support.stack import Stack

pytestmark = pytest.mark.slow

# One worker taking one run at a time, each answer 150 tokens at 15 a second: ten seconds of being busy.
SLOW = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "150", "LLM_SCRIPT_RATE": "15", "LLM_CAPACITY": "1"}


@pytest.fixture(scope="module")
def busy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("commands"), env={"GATEWAY_NO_WORKER_S": "0.5"})
    try:
        stack.start(workers=1, worker_env=SLOW)
        yield stack
    finally:
        stack.stop()


async def frames_until(ws: Any, done: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Every frame up to and including the first for which `done(frame)` holds."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not seen or not done(seen[-1]):
        seen.append(await receive(ws, timeout=max(0.1, deadline - time.monotonic())))
    return seen


async def test_a_chat_command_is_answered_while_every_worker_is_busy(busy_stack: Stack) -> None:
    async with websockets.connect(ws_url(busy_stack.url)) as ws:
        await ws.send('{"type": "chat", "text": "tell me a long story"}')
        first = (await frames_until(ws, lambda f: f["type"] == "run"))[-1]["runId"]
        await frames_until(ws, lambda f: f["type"] == "TEXT_MESSAGE_CONTENT" and f["runId"] == first)
        # The only worker is streaming; a second model message waits in the queue, and the person hears so.
        await ws.send('{"type": "chat", "text": "and another one"}')
        second = (await frames_until(ws, lambda f: f["type"] == "run"))[-1]["runId"]
        await frames_until(ws, lambda f: f["type"] == "status" and f["runId"] == second)

        sent = time.monotonic()
        await ws.send('{"type": "chat", "text": "!help"}')
        frames = await frames_until(ws, lambda f: f["type"] == "run")
        help_run = frames[-1]["runId"]
        frames += await frames_until(ws, lambda f: f.get("runId") == help_run and f["type"] == "RUN_FINISHED")
        answered_ms = (time.monotonic() - sent) * 1000

    mine = [f for f in frames if f.get("runId") == help_run]
    text = "".join(f["delta"] for f in mine if f["type"] == "TEXT_MESSAGE_CONTENT")
    assert "Chat commands: !help" in text
    assert not [f for f in mine if f["type"] in ("status", "error")], "a chat command never waits for a worker"
    # Answered while the first answer is still streaming and the second still waits: not behind the queue.
    assert not [f for f in frames if f["type"] in ("RUN_FINISHED", "RUN_STARTED") and f["runId"] in (first, second)]
    print(f"!help answered in {answered_ms:.0f} ms with the only worker busy and a run queued")
