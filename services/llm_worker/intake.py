"""How a worker takes runs from the queue: one waited for (a long poll while idle), then at once as many more as
are waiting, up to its free slots and MORE_AT_ONCE, so a burst of chats starts together instead of one pull at a
time, and workers pulling in turn share it (the first to pull no longer takes the whole burst).

A pull that asks for several runs lingers on the server until it has them all or expires, and nats-py waits
that long before handing back the first. So the second pull is short (`PULL_MORE_S`): a run waits at most that
long in the worker before it starts. A run the server sent just as such a pull gave up lands in the client's
queue; with no slot free it would sit there past the ack wait and be given to another worker as well, so it
is handed back at once instead."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext

log = logging.getLogger(__name__)

PULL_MORE_S = 0.05
MORE_AT_ONCE = 50  # runs one pull takes at most: workers pulling in turn share a burst instead of one taking it all
STRAGGLER_CHECK_S = 0.5


async def _take_free(slots: asyncio.Semaphore) -> int:
    """The slots free now, up to MORE_AT_ONCE (acquiring a slot that is free does not wait)."""
    taken = 0
    while not slots.locked() and taken < MORE_AT_ONCE:
        await slots.acquire()
        taken += 1
    return taken


async def more(sub: JetStreamContext.PullSubscription, slots: asyncio.Semaphore) -> list[Msg]:
    """As many runs as are waiting now, up to the free slots (each returned run holds one; the rest are freed)."""
    free = await _take_free(slots)
    if not free:
        return []
    msgs: list[Msg] = []
    try:
        msgs = await sub.fetch(free, timeout=PULL_MORE_S)
    except NatsTimeout:
        pass
    except Exception as error:  # noqa: BLE001 - NATS reconnecting: the runs stay queued for the next pull
        log.warning("fetching more runs failed (%r)", error)
    for _ in range(free - len(msgs)):
        slots.release()
    return msgs


async def slot(sub: JetStreamContext.PullSubscription, slots: asyncio.Semaphore) -> None:
    """Wait for a free slot; meanwhile hand back at once any run that reached the client after its pull."""
    while True:
        try:
            async with asyncio.timeout(STRAGGLER_CHECK_S):
                await slots.acquire()
                return
        except TimeoutError:
            pass
        while sub.pending_msgs:
            try:
                stragglers = await sub.fetch(1, timeout=PULL_MORE_S)
            except Exception:  # noqa: BLE001 - only status messages were queued, or NATS is away
                break
            for msg in stragglers:
                log.info("a run arrived after its pull, with no slot free: handed back to the queue")
                await msg.nak()
