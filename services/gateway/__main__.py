"""`python -m services.gateway`: serve the page on GATEWAY_HOST:GATEWAY_PORT (loopback only)."""

from __future__ import annotations

import ipaddress
import logging
import sys

import uvicorn

from services.gateway.app import create_app
from services.gateway.config import Settings

log = logging.getLogger("services.gateway")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if not is_loopback(settings.host) and settings.access_token is None:
        sys.exit(
            f"ghostbus gateway: refusing to listen on {settings.host} without GATEWAY_ACCESS_TOKEN: anyone who "
            "can reach it could change the list. Set a token (people then sign in with it) or listen on 127.0.0.1."
        )
    print(f"ghostbus gateway: http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=3,
        ws_max_size=settings.max_ws_message * 2,
        # Chat frames are one token each: compressing them costs more CPU than the bytes it saves.
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
