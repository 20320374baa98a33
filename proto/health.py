"""`python -m proto.health SERVICE`: exit 0 when a nats.micro service of that name answers PING.

The container health check of crud and the llm workers; it connects with the service's own NATS_URL."""

from __future__ import annotations

import asyncio
import sys

import nats

from proto import subjects
from proto.bus import inbox_prefix
from proto.settings import BusSettings


async def ping(service: str, timeout_s: float = 2.0) -> bool:
    try:
        nc = await nats.connect(
            BusSettings().nats_url,
            connect_timeout=timeout_s,
            allow_reconnect=False,
            inbox_prefix=inbox_prefix(service),
        )
    except Exception:  # noqa: BLE001 - unhealthy, whatever the reason
        return False
    try:
        await nc.request(subjects.service_ping(service), b"", timeout=timeout_s)
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        await nc.close()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m proto.health SERVICE")
    healthy = asyncio.run(ping(sys.argv[1]))
    print(f"{sys.argv[1]}: {'answers' if healthy else 'does not answer'}")
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()
