"""`python -m services.llm_worker`: pull chat runs until SIGINT or SIGTERM, then finish the runs in hand."""

from __future__ import annotations

import asyncio
import logging
import signal

from proto import eventloop, observe
from services.llm_worker.config import Settings
from services.llm_worker.worker import running

log = logging.getLogger("services.llm_worker")


async def main() -> None:
    settings = Settings()
    observe.start("llm_worker", settings, settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings) as worker:
        log.info(
            "llm_worker ready (backend=%s, model=%s, capacity=%d)",
            worker.backend.name,
            worker.backend.model,
            settings.capacity,
        )
        await stop.wait()
        log.info("llm_worker stopping: finishing the runs in hand")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    eventloop.run(main())
