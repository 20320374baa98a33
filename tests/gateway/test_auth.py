"""The access token: without it nothing but the login page answers; with it, pages, streams, the API
and the chat work; the gateway refuses to listen beyond loopback without one."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import websockets

from tests.gateway.conftest import TOKEN
from tests.support.stack import ROOT

HTML = {"Accept": "text/html"}


async def test_everything_but_login_and_health_needs_the_token(secured_url: str) -> None:
    async with httpx.AsyncClient(base_url=secured_url) as client:
        page = await client.get("/", headers=HTML)
        api = await client.get("/api/tasks")
        events = await client.get("/events")
        health = await client.get("/healthz")
        login_page = await client.get("/login")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert api.status_code == 401 and events.status_code == 401
    assert health.status_code == 200 and login_page.status_code == 200 and 'name="token"' in login_page.text
    with pytest.raises(websockets.exceptions.WebSocketException):
        async with websockets.connect(secured_url.replace("http://", "ws://") + "/ws") as ws:
            await ws.recv()


async def test_signing_in_sets_a_cookie_that_opens_the_page_and_the_chat(secured_url: str) -> None:
    async with httpx.AsyncClient(base_url=secured_url) as client:
        wrong = await client.post("/login", data={"token": "guess"})
        assert wrong.status_code == 401 and "not the access token" in wrong.text
        right = await client.post("/login", data={"token": TOKEN})
        assert right.status_code == 303
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        page = await client.get("/", headers=HTML)
        assert page.status_code == 200 and 'id="tasks"' in page.text
        session = client.cookies.get("ghostbus_session")
    headers = {"Cookie": f"ghostbus_session={session}"}
    async with websockets.connect(secured_url.replace("http://", "ws://") + "/ws", additional_headers=headers) as ws:
        await ws.send('{"type": "dance"}')
        assert "Unknown message type" in await ws.recv()


async def test_scripts_use_a_bearer_token(secured_url: str) -> None:
    async with httpx.AsyncClient(base_url=secured_url) as client:
        ok = await client.post("/api/tasks", json={"name": "milk"}, headers={"Authorization": f"Bearer {TOKEN}"})
        bad = await client.post("/api/tasks", json={"name": "milk"}, headers={"Authorization": "Bearer nope"})
    assert ok.status_code == 201 and bad.status_code == 401


def test_the_gateway_refuses_a_public_address_without_a_token() -> None:
    env = {"GATEWAY_HOST": "0.0.0.0", "PATH": "/usr/bin:/bin", "NATS_URL": "nats://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "refusing to listen on 0.0.0.0 without GATEWAY_ACCESS_TOKEN" in done.stderr
