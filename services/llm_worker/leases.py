"""What a run holds while a worker performs it: the queue's lease, kept alive, and an ear for its Stop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from nats.aio.msg import Msg

MAX_REMEMBERED = 10_000  # Stops of runs not in hand, remembered at most
REMEMBER_S = 3600.0


@contextlib.asynccontextmanager
async def heartbeat(msg: Msg, every_s: float) -> AsyncIterator[None]:
    """Tell JetStream every `every_s` that the run is still in hand, so a long answer is not redelivered."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


class Stops:
    """The person's Stops, heard on the worker's one subscription to every run's cancel subject: a run in hand
    is told at once, any other is remembered for a while (stopped before a worker took it). No subscription
    per run, so taking a run costs nats-server nothing for its Stop."""

    def __init__(self, remember: int = MAX_REMEMBERED, remember_s: float = REMEMBER_S) -> None:
        self.remember = remember
        self.remember_s = remember_s
        self.in_hand: dict[str, list[asyncio.Event]] = {}
        self.stopped: dict[str, float] = {}  # every run stopped, when: a Stop before the run is taken is kept

    def heard(self, run_id: str) -> None:
        """A Stop for the run."""
        for cancelled in self.in_hand.get(run_id, ()):
            cancelled.set()
        now = time.monotonic()
        self.stopped[run_id] = now
        if len(self.stopped) > self.remember:
            old = [r for r, at in self.stopped.items() if now - at > self.remember_s] or list(self.stopped)[:1000]
            for run in old:
                self.stopped.pop(run, None)

    def was_stopped(self, run_id: str) -> bool:
        """Whether the run was stopped before this worker took it (then forgotten)."""
        return self.stopped.pop(run_id, None) is not None

    @contextlib.asynccontextmanager
    async def listening(self, run_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set when the person stops the run (from any tab), for as long as the block runs; set at
        once if the Stop came before."""
        cancelled = asyncio.Event()
        if self.was_stopped(run_id):
            cancelled.set()
        held = self.in_hand.setdefault(run_id, [])
        held.append(cancelled)
        try:
            yield cancelled
        finally:
            held.remove(cancelled)
            if not held:
                del self.in_hand[run_id]
