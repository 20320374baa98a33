"""How the gateway hears runs' events: live, every run on one core NATS subscription (`LiveRuns`), and read
from the CHAT_EVENTS stream to catch up (`Stored`). `services.gateway.relay` puts the two together for each
run a client follows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from proto import subjects
from proto.streams import ELECTION_S, through_election

Take = Callable[[str, bytes], None]
"""Hands one live event (its subject and bytes) to a relay; must not wait."""

# One subscription carries every run's events to this gateway: room for a burst of all of them.
LIVE_PENDING_MSGS = 1_000_000
LIVE_PENDING_BYTES = 512 * 1024 * 1024


class LiveRuns:
    """Every run's events, live over one core NATS subscription for the whole gateway, handed to the relays
    following each run (by the run id in the subject). No subscription is made or removed per run, and a
    burst of events is taken from one queue without a task switch per event. Each gateway hears every run,
    also those followed only by another gateway (dropped at a dictionary look-up)."""

    def __init__(self) -> None:
        self.followers: dict[str, list[Take]] = {}
        self.sub: Any = None

    async def start(self, nc: Client) -> None:
        self.sub = await nc.subscribe(
            subjects.RUN_EVENTS_ALL,
            cb=self._dispatch,
            pending_msgs_limit=LIVE_PENDING_MSGS,
            pending_bytes_limit=LIVE_PENDING_BYTES,
        )

    async def stop(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()
            self.sub = None

    def follow(self, run_id: str, take: Take) -> Callable[[], None]:
        """Hand the run's live events to `take` from now on; returns what stops it."""
        self.followers.setdefault(run_id, []).append(take)

        def stop() -> None:
            takes = self.followers.get(run_id, [])
            with contextlib.suppress(ValueError):
                takes.remove(take)
            if not takes:
                self.followers.pop(run_id, None)

        return stop

    async def _dispatch(self, msg: Msg) -> None:
        # chat.events.<run>.<attempt>.<index>: a run id has no dots.
        parts = msg.subject.split(".", 3)
        takes = self.followers.get(parts[2]) if len(parts) == 4 else None
        if takes:
            for take in list(takes):
                take(msg.subject, msg.data)


class Stored:
    """One read of a run's events from the stream, from its first, until it has caught up with what the
    stream held (an ordered consumer, deleted afterwards)."""

    def __init__(self, take: Callable[[str, bytes], Awaitable[None]]) -> None:
        self.take = take
        self.caught = asyncio.Event()
        self.sub: Any = None

    async def open(self, js: JetStreamContext, run_id: str) -> None:
        self.sub = await through_election(
            lambda: js.subscribe(
                subjects.run_events(run_id),
                stream=subjects.RUN_EVENTS_STREAM,
                cb=self._stored,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
            ),
            ELECTION_S,
        )
        info = await self.sub.consumer_info()
        if info.num_pending == 0 and info.delivered.stream_seq == 0:
            self.caught.set()  # the stream holds nothing of the run yet: everything comes live

    async def _stored(self, msg: Msg) -> None:
        await self.take(msg.subject, msg.data)
        if msg.metadata.num_pending == 0:
            self.caught.set()

    async def caught_up(self, done: asyncio.Event) -> None:
        """Until every event the stream held is taken, or the run is done."""
        waits = [asyncio.ensure_future(self.caught.wait()), asyncio.ensure_future(done.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sub.unsubscribe()
