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


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the service's loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
