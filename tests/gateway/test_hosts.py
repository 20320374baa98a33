"""DNS rebinding: a page on another name that resolves to this machine cannot use the gateway, however it
names it; the gateway answers only to loopback, its own address and GATEWAY_ALLOWED_HOSTS."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from services.gateway.config import Settings
from tests.gateway.conftest import serve
from tests.support.natsd import NatsServer


@pytest.fixture
async def named_url(nats_server: NatsServer, crud: object) -> AsyncIterator[str]:
    async for url in serve(Settings(NATS_URL=nats_server.url, allowed_hosts="tasks.example.org, Other.Example")):
        yield url


async def handshake(url: str, host: str, origin: str | None = None) -> str:
    """The status line the gateway answers a WebSocket handshake on /ws with (sent by hand, so the Host
    header is exactly the one a rebinding page's browser would send)."""
    port = urlsplit(url).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
    finally:
        writer.close()
        await writer.wait_closed()
    return status


async def test_a_rebound_name_is_refused_everywhere(named_url: str) -> None:
    port = urlsplit(named_url).port
    evil = {"Host": f"evil.example:{port}"}
    async with httpx.AsyncClient(base_url=named_url) as client:
        page = await client.get("/", headers=evil)
        made = await client.post("/api/tasks", json={"name": "planted"}, headers=evil)
        form = await client.post("/tasks", data={"name": "planted"}, headers=evil | {"HX-Request": "true"})
        events = await client.get("/events", headers=evil)
        listed = await client.get("/api/tasks")
    assert [r.status_code for r in (page, made, form, events)] == [400] * 4
    assert "Unknown host" in made.text
    assert listed.json() == []
    chat = await handshake(named_url, f"evil.example:{port}", origin=f"http://evil.example:{port}")
    assert chat.startswith("HTTP/1.1 400")


async def test_loopback_and_the_allowed_names_are_served(named_url: str) -> None:
    port = urlsplit(named_url).port
    async with httpx.AsyncClient(base_url=named_url) as client:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "tasks.example.org", "other.example"):
            assert (await client.get("/api/tasks", headers={"Host": host})).status_code == 200, host


async def test_the_chat_judges_the_origin_by_the_allowed_names_not_by_the_host_header(named_url: str) -> None:
    port = urlsplit(named_url).port
    # A page of this site, however the browser reached the gateway.
    assert (await handshake(named_url, f"127.0.0.1:{port}", f"http://tasks.example.org:{port}")).endswith(
        "101 Switching Protocols"
    )
    assert (await handshake(named_url, "tasks.example.org", f"http://localhost:{port}")).endswith(
        "101 Switching Protocols"
    )
    # Another site's page, even one that sends the same name in Host and Origin, is refused.
    refused = await handshake(named_url, f"127.0.0.1:{port}", f"http://evil.example:{port}")
    assert not refused.endswith("101 Switching Protocols")
    assert not (await handshake(named_url, f"127.0.0.1:{port}", "null")).endswith("101 Switching Protocols")
