"""`python -m services.gateway`: serve the page on GATEWAY_HOST:GATEWAY_PORT (loopback only)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

from pydantic import ValidationError

from proto import eventloop, observe
from services.gateway.config import Settings
from services.gateway.hosts import is_loopback
from services.gateway.server import Server, create_server

log = logging.getLogger("services.gateway")

SAME_PRESS_S = 0.5


async def serve(server: Server) -> int | None:
    """Serve until SIGINT or SIGTERM sets the gateway's closing event (a second Ctrl-C: stop without
    waiting for open connections); the signal that stopped it, if one did."""
    received: list[int] = []
    first_at = 0.0

    def on_signal(sig: int) -> None:
        nonlocal first_at
        now = time.monotonic()
        # One Ctrl-C can arrive twice within milliseconds: from the terminal to the whole process group, and
        # passed on by a supervisor (watchfiles under make dev). Only a later one is a person's second press.
        if received and sig == signal.SIGINT and now - first_at > SAME_PRESS_S:
            server.force_exit = True
        if not received:
            first_at = now
        received.append(sig)
        server.closing.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    serving = asyncio.create_task(server.serve())
    closing = asyncio.create_task(server.closing.wait())
    await asyncio.wait({serving, closing}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    try:
        await serving
    finally:
        closing.cancel()
    return received[0] if received else None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except ValidationError as error:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors(include_url=False))
        sys.exit(f"ghostbus gateway: cannot start: {reasons}")
    if not is_loopback(settings.host) and settings.access_token is None:
        sys.exit(
            f"ghostbus gateway: refusing to listen on {settings.host} without GATEWAY_ACCESS_TOKEN: anyone who "
            "can reach it could change the list. Set a token (people then sign in with it) or listen on 127.0.0.1."
        )
    observe.start("gateway", settings)
    log.info("ghostbus gateway: http://%s:%d", settings.host, settings.port)
    server = create_server(settings)
    stopped_by = eventloop.run(serve(server), server.config.get_loop_factory())
    if stopped_by == signal.SIGTERM:
        # As uvicorn does: once shut down, end by the signal itself, so a supervisor sees it obeyed.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)


if __name__ == "__main__":
    main()
