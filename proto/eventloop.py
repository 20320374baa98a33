"""The event loop a service runs on: uvloop where it is installed (it comes with uvicorn[standard], and the
gateway runs on it through uvicorn), else asyncio's own. A worker or crud spends much of its CPU in the loop
and its sockets: one token is a message in, a publish out and an acknowledgement back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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


def run(main: Coroutine[Any, Any, T], factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> T:
    """`asyncio.run(main)` on the service's loop (`factory`'s, when given: the gateway's is uvicorn's)."""
    with asyncio.Runner(loop_factory=factory or loop_factory()) as runner:
        runner.get_loop().set_exception_handler(quiet_cancellations)
        return runner.run(main)
