"""The gateway under real uvicorn on a free port, with the real crud on this test's nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.gateway import hub
from services.gateway.config import Settings
from services.gateway.server import create_server
from tests.support.natsd import NatsServer
from tests.support.stack import free_port

TOKEN = "s3cret-token-of-24-chars"


@pytest.fixture
async def gateway_url(nats_server: NatsServer, crud: object) -> AsyncIterator[str]:
    async for url in serve(Settings(NATS_URL=nats_server.url, no_worker_s=1.0, chat_per_minute=5)):
        yield url


@pytest.fixture
async def secured_url(nats_server: NatsServer, crud: object) -> AsyncIterator[str]:
    async for url in serve(Settings(NATS_URL=nats_server.url, access_token=TOKEN)):
        yield url


@pytest.fixture
def quick_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep-alive pings every 0.2 s (request it before the gateway, which reads it as it starts)."""
    monkeypatch.setattr(hub, "PING_S", 0.2)


@pytest.fixture
def quick_stream_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check that the UI stream was not created anew every 0.2 s (request it before the gateway)."""
    monkeypatch.setattr(hub, "REWIND_CHECK_S", 0.2)


async def serve(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    server = create_server(settings, host="127.0.0.1", port=port, log_level="warning")
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
