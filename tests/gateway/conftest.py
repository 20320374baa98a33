"""The gateway under real uvicorn on a free port, with the real crud on this test's nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from services.gateway.app import create_app
from services.gateway.config import Settings
from tests.natsd import NatsServer
from tests.stack import free_port

TOKEN = "s3cret-token"


@pytest.fixture
async def gateway_url(nats_server: NatsServer, crud: object) -> AsyncIterator[str]:
    async for url in serve(Settings(NATS_URL=nats_server.url, GATEWAY_NO_WORKER_S=1.0, GATEWAY_CHAT_PER_MINUTE=5)):
        yield url


@pytest.fixture
async def secured_url(nats_server: NatsServer, crud: object) -> AsyncIterator[str]:
    async for url in serve(Settings(NATS_URL=nats_server.url, GATEWAY_ACCESS_TOKEN=TOKEN)):
        yield url


async def serve(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
