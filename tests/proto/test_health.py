"""The compose health check asks for the instance in its own container, not any instance of the name."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.service import ServiceConfig

from proto.health import instance_metadata, ping
from tests.support.natsd import NatsServer


async def test_only_an_instance_on_this_host_makes_the_service_healthy(
    nats_server: NatsServer, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_URL", nats_server.url)
    assert not await ping("probe", timeout_s=0.5)  # nobody
    elsewhere = await add_service(nc, ServiceConfig(name="probe", version="0.1.0", metadata={"host": "other-box"}))
    assert not await ping("probe", timeout_s=0.5)  # another container's instance does not count
    here = await add_service(nc, ServiceConfig(name="probe", version="0.1.0", metadata=instance_metadata()))
    assert await ping("probe", timeout_s=2.0)
    await here.stop()
    await elsewhere.stop()
