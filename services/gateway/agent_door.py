"""`/mcp` on demand: the MCP server (agents.py) is imported, made and started at the first request to it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.state import Gateway

if TYPE_CHECKING:
    from services.gateway.agents import AgentServer

AGENTS = "services.gateway.agents"


class AgentDoor:
    """The ASGI app of `/mcp`. The MCP SDK is a quarter of an idle gateway's memory (24.5 MB of 82: its import
    loads every model of the protocol, its client and cryptography too), and most gateways never meet an
    agent, so it is loaded by the first one to knock; its sessions then run until the gateway stops."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._asgi: ASGIApp | None = None
        self._opening = asyncio.Lock()
        self._closing = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._asgi is None and self._closing.is_set():
            stopping = PlainTextResponse("The gateway is stopping; /mcp did not open.", status_code=503)
            await stopping(scope, receive, send)
            return
        asgi = self._asgi or await self._open()
        await asgi(scope, receive, send)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While the gateway runs; at its end, the MCP sessions end too, if any began."""
        try:
            yield
        finally:
            self._closing.set()
            if self._serving is not None:
                await self._serving

    async def _open(self) -> ASGIApp:
        async with self._opening:
            if self._asgi is None:
                # Up to a second of imports: in a thread, so the streams and chats already open go on meanwhile.
                await asyncio.to_thread(importlib.import_module, AGENTS)
                from services.gateway.agents import AgentServer  # loaded by the thread above

                server = AgentServer(self.gateway)
                started = asyncio.get_running_loop().create_future()
                self._serving = asyncio.create_task(self._serve(server, started))
                await started
                self._asgi = server.asgi
            return self._asgi

    async def _serve(self, server: AgentServer, started: asyncio.Future[None]) -> None:
        try:
            async with server.running():
                started.set_result(None)
                await self._closing.wait()
        except Exception as error:
            if started.done():
                raise
            started.set_exception(error)  # the request that opened the door fails with it
