"""The scripted backend, for load work only (LLM_BACKEND=scripted): a real backend that emits a given
number of tokens at a given rate, and optionally commands, with no model behind it.

Each token's text is the wall-clock time it was emitted ("1795512852.123456 "), so a client on the
same machine measures the latency the system adds to every token by reading the token itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from proto.commands import TaskCreate
from services.llm_worker.backends.base import Chunk, CommandOut, Prompt, TextDelta, Usage
from services.llm_worker.config import Settings


class ScriptedBackend:
    """`tokens` tokens at `rate` per second (0: as fast as it can), then `commands` create commands
    named by their emit time."""

    name = "scripted"
    model = "scripted"
    composes_reply = False
    feeds_back = False

    def __init__(self, settings: Settings) -> None:
        self.tokens = settings.script_tokens
        self.rate = settings.script_rate
        self.commands = settings.script_commands

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def stream(self, prompt: Prompt) -> AsyncIterator[Chunk]:
        started = time.monotonic()
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        for n in range(self.tokens):
            if interval:
                # Paced against the start, so the rate holds however long each step took.
                delay = started + n * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif n % 64 == 0:
                await asyncio.sleep(0)
            yield TextDelta(f"{time.time():.6f} ")
        for _ in range(self.commands):
            yield CommandOut(TaskCreate(name=f"cmd {time.time():.6f}"))
        yield Usage(completion_tokens=self.tokens, duration_s=time.monotonic() - started, first_token_s=0.0)
