"""`python -m proto.health SERVICE`: exit 0 when the nats.micro service of that name running on this
host (this container) answers PING.

The container health check of crud and the llm workers; it connects with the service's own NATS_URL.
Every instance answers a PING by name, so the answers are told apart by the `host` each service puts
in its metadata (`instance_metadata()`): a stuck worker is not reported healthy because another
worker answered for it. Processes on one machine (`make run`) share a host name, and there any of
them answering counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys

import nats
from nats.aio.msg import Msg

from proto import subjects
from proto.bus import inbox_prefix, server_list
from proto.settings import BusSettings


async def ping(service: str, timeout_s: float = 2.0) -> bool:
    try:
        nc = await nats.connect(
            server_list(BusSettings().nats_url),
            connect_timeout=timeout_s,
            allow_reconnect=False,
            inbox_prefix=inbox_prefix(service),
        )
    except Exception:  # noqa: BLE001 - unhealthy, whatever the reason
        return False
    here = socket.gethostname()
    answered = asyncio.Event()

    async def on_answer(msg: Msg) -> None:
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            if json.loads(msg.data)["metadata"].get("host") == here:
                answered.set()

    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox, cb=on_answer)
        await nc.publish(subjects.service_ping(service), b"", reply=inbox)
        async with asyncio.timeout(timeout_s):
            await answered.wait()
        await sub.unsubscribe()
        return True
    except Exception:  # noqa: BLE001 - unhealthy, whatever the reason
        return False
    finally:
        await nc.close()


def instance_metadata() -> dict[str, str]:
    """What a service adds to its nats.micro metadata so that its own health check finds it."""
    return {"host": socket.gethostname(), "pid": str(os.getpid())}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m proto.health SERVICE")
    healthy = asyncio.run(ping(sys.argv[1]))
    print(f"{sys.argv[1]}: {'answers' if healthy else 'does not answer'}")
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()
