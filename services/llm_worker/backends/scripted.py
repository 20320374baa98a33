"""The scripted backend, for load work only (LLM_BACKEND=scripted): a real backend that emits a given
number of tokens at a given rate, and optionally commands, with no model behind it.

Each token's text is the wall-clock time it was emitted ("1795512852.123456 "), so a client on the
same machine measures the latency the system adds to every token by reading the token itself. The
same script drives the benchmarks' stand-in Ollama server (`bench/ollama_server.py`), so the Ollama
backend can be measured on the wire against exactly what this backend emits in process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from proto.commands import TaskCreate
from services.llm_worker.backends.base import Chunk, CommandOut, Prompt, TextDelta, Usage
from services.llm_worker.config import Settings

YIELD_EVERY = 64
"""As fast as possible, still let the event loop run this often (tokens), or nothing else would."""


@dataclass(frozen=True)
class Script:
    """`tokens` tokens at `rate` per second (0: as fast as possible), then `commands` create commands."""

    tokens: int = 100
    rate: float = 50.0
    commands: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Script:
        return cls(tokens=settings.script_tokens, rate=settings.script_rate, commands=settings.script_commands)

    async def texts(self) -> AsyncIterator[str]:
        """Each token's text, its own emit time, paced against the start so the rate holds however
        long each step took."""
        started = time.monotonic()
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        for n in range(self.tokens):
            if interval:
                delay = started + n * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            yield stamp()

    def command_names(self) -> list[str]:
        """The commands' task names, each its emit time, so the screen can be timed against them."""
        return [f"cmd {time.time():.6f}" for _ in range(self.commands)]


def stamp() -> str:
    """A token that is the time it was emitted (seconds since the epoch, to the microsecond)."""
    return f"{time.time():.6f} "


class ScriptedBackend:
    """The script, emitted in process as text deltas, commands and the usage of a real answer."""

    name = "scripted"
    model = "scripted"
    composes_reply = False
    feeds_back = False

    def __init__(self, settings: Settings, script: Script | None = None) -> None:
        self.script = script or Script.from_settings(settings)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def models(self) -> list[str]:
        return [self.model]

    async def stream(self, prompt: Prompt) -> AsyncIterator[Chunk]:
        started = time.monotonic()
        first: float | None = None
        async for text in self.script.texts():
            if first is None:
                first = time.monotonic() - started
            yield TextDelta(text)
        for name in self.script.command_names():
            yield CommandOut(TaskCreate(name=name))
        yield Usage(
            completion_tokens=self.script.tokens,
            duration_s=time.monotonic() - started,
            first_token_s=first if first is not None else 0.0,
        )
