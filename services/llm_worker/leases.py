"""What a run holds while a worker performs it: the queue's lease, kept alive, and an ear for its Stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nats.aio.client import Client
from nats.aio.msg import Msg

from proto import subjects


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


@contextlib.asynccontextmanager
async def cancellable(nc: Client, run_id: str) -> AsyncIterator[asyncio.Event]:
    """An event set when the person stops the run (from any tab), for as long as the block runs."""
    cancelled = asyncio.Event()

    async def on_cancel(_: Msg) -> None:
        cancelled.set()

    sub = await nc.subscribe(subjects.chat_cancel(run_id), cb=on_cancel)
    try:
        yield cancelled
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
