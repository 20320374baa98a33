"""The floor: one bare NATS hop between two processes on this machine (a publisher stamping each message
with its send time, a subscriber in this process), at the relay's rates. A chat token crosses three
such process boundaries (worker → nats-server → gateway → client), so this says how much of the relay's
added latency is the machine waking processes rather than ghostbus's own work.

`python -m bench.hop publish URL RATE COUNT` is the publisher (started by the benchmark)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg

from bench.common import in_scratch, machine_load, save, summary_ms
from tests.support.natsd import NatsServer

SUBJECT = "bench.hop"
RATES = ((20.0, 200), (100.0, 1000))


async def publish(url: str, rate: float, count: int) -> None:
    nc = await nats.connect(url)
    started = time.monotonic()
    for n in range(count):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await nc.publish(SUBJECT, f"{time.time():.6f}".encode())
    await nc.flush()
    await nc.close()


async def measure(base: Path) -> dict[str, Any]:
    server = NatsServer(base / "nats")
    server.start()
    figures: dict[str, Any] = {"machine_at_start": machine_load()}
    try:
        nc = await nats.connect(server.url)
        for rate, count in RATES:
            seen: list[float] = []

            async def arrived(msg: Msg, seen: list[float] = seen) -> None:
                seen.append(time.time() - float(msg.data))

            sub = await nc.subscribe(SUBJECT, cb=arrived)
            await nc.flush()
            args = [sys.executable, "-m", "bench.hop", "publish", server.url, str(rate), str(count)]
            proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL)
            await proc.wait()
            await asyncio.sleep(0.2)
            await sub.unsubscribe()
            figures[f"{rate:.0f} msg/s"] = summary_ms(seen)
        await nc.close()
    finally:
        server.stop()
    save("hop", figures)
    return figures


def run() -> dict[str, Any]:
    return in_scratch(measure)


if __name__ == "__main__":
    if sys.argv[1:2] == ["publish"]:
        asyncio.run(publish(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
    else:
        import json

        print(json.dumps(run(), indent=2))
