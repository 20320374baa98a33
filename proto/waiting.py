"""Waiting for work that something else may call off: a Stop from the person, a service shutting down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class CalledOff(Exception):
    """The event came before the work finished; the work has been cancelled and has ended."""


async def unless(work: Awaitable[T], event: asyncio.Event) -> T:
    """`work`'s result, unless `event` is set first: then the work is cancelled, waited for, and
    CalledOff raised. Cancelling the caller cancels the work too, so nothing of it runs on unseen
    (a model's generation, a request to NATS, a generator that is about to be closed)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await _end(task)
        raise
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    await _end(task)
    raise CalledOff


async def _end(task: asyncio.Future[T]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
