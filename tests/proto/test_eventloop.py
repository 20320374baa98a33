"""The services' event loop: an error nobody awaited is still reported, a cancellation nobody looked at is not
(nats-py's drain leaves one behind when nats-server stops at the same moment as the service)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from proto import eventloop


def test_a_forgotten_cancellation_is_quiet_and_a_forgotten_error_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        waiting = asyncio.ensure_future(asyncio.sleep(10))
        gathered = asyncio.gather(waiting)
        await asyncio.sleep(0)
        waiting.cancel()  # the gathering ends cancelled, and nobody awaits it
        await asyncio.sleep(0.01)
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lost.set_exception(ValueError("nobody awaited this"))
        del gathered, lost
        gc.collect()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        eventloop.run(main())
    reported = "\n".join(f"{r.getMessage()} {r.exc_info[1] if r.exc_info else ''!r}" for r in caplog.records)
    assert "nobody awaited this" in reported
    assert "CancelledError" not in reported


def test_a_service_collects_garbage_less_often_and_never_rescans_what_it_imported() -> None:
    before = gc.get_threshold()
    seen: list[tuple[tuple[int, int, int], int]] = []

    async def main() -> None:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))

    eventloop.run(main())
    ((threshold, frozen),) = seen
    assert threshold == eventloop.THRESHOLDS and threshold[0] > before[0]
    assert frozen > 0  # the imports' objects
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0  # the process as it was, afterwards
