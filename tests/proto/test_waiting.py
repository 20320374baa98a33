"""proto.waiting.unless: work that a Stop or a shutdown may call off never runs on unseen."""

from __future__ import annotations

import asyncio

import pytest

from proto.waiting import CalledOff, unless


class Work:
    """Work that finishes when told to, and records whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finish = asyncio.Event()
        self.cancelled = False

    async def run(self) -> str:
        self.started.set()
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return "done"


async def test_the_work_s_result_when_it_finishes_first() -> None:
    work = Work()
    work.finish.set()
    assert await unless(work.run(), asyncio.Event()) == "done"


async def test_the_event_first_cancels_the_work_and_says_so() -> None:
    work, stop = Work(), asyncio.Event()
    waiting = asyncio.create_task(unless(work.run(), stop))
    await work.started.wait()
    stop.set()
    with pytest.raises(CalledOff):
        await waiting
    assert work.cancelled


async def test_cancelling_the_caller_cancels_the_work_too() -> None:
    work = Work()
    waiting = asyncio.create_task(unless(work.run(), asyncio.Event()))
    await work.started.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert work.cancelled


async def test_an_error_of_the_work_reaches_the_caller() -> None:
    async def failing() -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        await unless(failing(), asyncio.Event())
