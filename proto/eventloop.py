"""The event loop a service runs on: uvloop where it is installed (it comes with uvicorn[standard], and the
gateway runs on it through uvicorn), else asyncio's own. A worker or crud spends much of its CPU in the loop
and its sockets: one token is a message in, a publish out and an acknowledgement back."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# The cyclic garbage collector's thresholds while a service runs (CPython's are 700, 10, 10). Every message
# makes short-lived containers (frames, futures, pydantic and nats-py objects), and the default runs the
# collector every 700 of them; under 500 runs at once it took about a tenth of the gateway's and the workers'
# CPU, with full passes of ~70 ms over everything the imports made. A young collection's pause grows with
# the first threshold (17 ms at most seen at 20,000 on this shared machine), hence not more.
THRESHOLDS = (10_000, 20, 20)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop, or None for asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's handler of errors nobody awaited, but for a cancellation: a wait that was cancelled and that
    nobody looked at again lost nothing (nats-py's drain, when nats-server stops at the same moment as the
    service, leaves such a gathering of its subscriptions' drains behind)."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


@contextlib.contextmanager
def collecting_less() -> Iterator[None]:
    """In the block, what exists already (after the imports: modules, classes, pydantic's validators) is left
    out of every collection (`gc.freeze`), and the collector runs at THRESHOLDS; both as before afterwards."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def run(main: Coroutine[Any, Any, T], factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> T:
    """`asyncio.run(main)` on the service's loop (`factory`'s, when given: the gateway's is uvicorn's)."""
    with collecting_less(), asyncio.Runner(loop_factory=factory or loop_factory()) as runner:
        runner.get_loop().set_exception_handler(quiet_cancellations)
        return runner.run(main)
