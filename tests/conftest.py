"""Fixtures shared by every test: a real nats-server per test and a connected client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from proto.bus import close
from proto.streams import create_streams
from tests.support.natsd import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream, its own port and store, for this test alone."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A client connected to this test's server, with ghostbus's streams created."""
    client = await nats.connect(nats_server.url, connect_timeout=5, max_reconnect_attempts=0)
    await create_streams(client.jetstream())
    yield client
    await close(client)  # drains, or closes when draining fails, so no socket is left open


@pytest.fixture
async def crud(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[object]:
    """The real crud service, in this process, on this test's server and a SQLite file under tmp_path."""
    from services.crud.config import Settings
    from services.crud.service import running

    settings = Settings(NATS_URL=nats_server.url, DATA_DIR=tmp_path / "data")
    async with running(settings) as service:
        yield service
