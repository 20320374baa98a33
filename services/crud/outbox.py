"""The outbox relay: publishes committed UI events to JetStream in order, each exactly once in the stream.

A row is marked sent only after JetStream acknowledges it. A crash between the ack and the mark means
the row is published again after a restart; `Nats-Msg-Id` (the event id) lets the stream drop that
duplicate, so the stream holds each event once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nats.js import JetStreamContext

from services.crud import telemetry
from services.crud.db import Database

log = logging.getLogger(__name__)

POLL_S = 5.0
PUBLISH_TIMEOUT_S = 2.0
CONNECTED_CHECK_S = 0.05  # while flushing, how often to look whether the connection is still there


class Relay:
    """Publishes pending outbox rows; `wake()` after a commit, `flush()` to wait until none is pending."""

    def __init__(self, db: Database, js: JetStreamContext, retry_s: float = 0.5) -> None:
        self.db = db
        self.js = js
        self.retry_s = retry_s
        self.published = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def flush(self, timeout_s: float = 10.0, connected: Callable[[], bool] = lambda: True) -> bool:
        """Wait until every committed event is published; False if NATS did not take them in time, or as soon
        as `connected()` says the connection is gone (at shutdown nats-server may be stopping too)."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    if not connected():
                        return False
                    self.wake()
                    try:
                        async with asyncio.timeout(CONNECTED_CHECK_S):
                            await self._idle.wait()
                    except TimeoutError:
                        continue
                    if not await self.db.pending(limit=1):
                        return True
        except TimeoutError:
            return False

    async def _run(self) -> None:
        delay = 0.05
        while True:
            try:
                await self._publish_pending()
                delay = 0.05
                self._idle.set()
                try:
                    async with asyncio.timeout(POLL_S):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - NATS down or reconnecting: keep the rows, try again
                log.warning("outbox: publishing failed (%r); retrying in %.2f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_s)

    async def _publish_pending(self) -> None:
        while True:
            self._wake.clear()
            rows = await self.db.pending()
            telemetry.OUTBOX_BACKLOG.set(await telemetry.backlog(self.db.conn) if rows else 0)
            if not rows:
                return
            acknowledged: list[int] = []
            try:
                for row in rows:
                    await self.js.publish(
                        row.subject, row.payload, timeout=PUBLISH_TIMEOUT_S, headers={"Nats-Msg-Id": row.event_id}
                    )
                    acknowledged.append(row.seq)
                    self.published += 1
                    telemetry.EVENTS_PUBLISHED.inc()
            finally:
                # One write for the batch; a row acknowledged but not yet marked is published again after
                # a crash, and JetStream drops that duplicate by its Nats-Msg-Id.
                await self.db.mark_sent(acknowledged)
