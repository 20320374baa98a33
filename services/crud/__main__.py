"""`python -m services.crud`: serve until SIGINT or SIGTERM, then finish the command in hand and flush."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from proto import eventloop, observe
from proto.bus import BusRefused, BusUnavailable, redacted
from proto.streams import StreamsUnavailable
from services.crud.config import Settings
from services.crud.service import running

log = logging.getLogger("services.crud")


async def main() -> None:
    settings = Settings()
    observe.start("crud", settings, settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings):
        log.info("crud ready (database %s, NATS %s)", settings.db_path, redacted(settings.nats_url))
        await stop.wait()
        log.info("crud stopping")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        eventloop.run(main())
    except (BusUnavailable, BusRefused, StreamsUnavailable) as error:
        # A start that cannot succeed says why in one line and exits non-zero, so honcho or compose reports it.
        log.error("crud cannot start: %s", error)
        sys.exit(1)
