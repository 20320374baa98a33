"""uvicorn's `Server` as the gateway runs it: its exit ends the open event streams at once."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from services.gateway.app import gateway_app
from services.gateway.config import Settings
from services.gateway.state import Gateway


class Server(uvicorn.Server):
    """uvicorn's server, which sets the gateway's `closing` event as it begins to stop."""

    def __init__(self, config: uvicorn.Config, closing: asyncio.Event) -> None:
        super().__init__(config)
        self.closing = closing

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits for every open response to end before the lifespan's shutdown, and an event
        # stream ends only when told: it is told first.
        self.closing.set()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGINT and SIGTERM are the gateway's main's to handle (services/gateway/__main__.py).
        yield


def create_server(settings: Settings, **options: Any) -> Server:
    """The gateway's app under a server listening where the settings say; `options` override uvicorn's
    configuration (tests: the port, the log level)."""
    gateway = Gateway(settings)
    config: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        # uvicorn's lines go to the handler the service set up (proto.logs), as JSON when LOG_FORMAT=json.
        "log_config": None,
        "timeout_graceful_shutdown": 3,
        "ws_max_size": settings.max_ws_message * 2,
        # Chat frames are one token each: compressing them costs more CPU than the bytes it saves.
        "ws_per_message_deflate": False,
    }
    return Server(uvicorn.Config(gateway_app(gateway), **(config | options)), gateway.closing)
