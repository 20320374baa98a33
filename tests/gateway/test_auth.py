"""The access token: without it nothing but the login page answers; with it, pages, streams, the API
and the chat work; the gateway refuses to listen beyond loopback without one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest
import websockets

from services.gateway.auth import Sessions
from services.gateway.config import Settings
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


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
@pytest.mark.parametrize("token", ["", "short-token"])
def test_an_empty_or_short_token_is_refused_at_start(host: str, token: str) -> None:
    env = {
        "GATEWAY_HOST": host,
        "GATEWAY_ACCESS_TOKEN": token,
        "PATH": "/usr/bin:/bin",
        "NATS_URL": "nats://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 1
    assert "GATEWAY_ACCESS_TOKEN is empty or shorter than 16 characters" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(ValueError, match="shorter than 16"):
        Settings(access_token=token)


async def test_a_session_has_a_lifetime_and_signing_out_ends_it(secured_url: str) -> None:
    async with httpx.AsyncClient(base_url=secured_url) as client:
        right = await client.post("/login", data={"token": TOKEN})
        assert "Max-Age=604800" in right.headers["set-cookie"]
        page = await client.get("/", headers=HTML)
        assert page.status_code == 200 and 'action="/logout"' in page.text
        out = await client.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert 'ghostbus_session=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
        assert (await client.get("/", headers=HTML)).status_code == 303
    # A cookie past its lifetime opens nothing, though its signature is right.
    lifetime = Settings(access_token=TOKEN).session_hours * 3600
    old = Sessions(TOKEN, lifetime).issue(now=time.time() - lifetime - 60)
    fresh = Sessions(TOKEN, lifetime).issue()
    payload, signature = fresh.split(".", 1)
    # The signature's first character changed (to another one: a signature may begin with "0" already).
    forged = payload + "." + ("1" if signature[0] == "0" else "0") + signature[1:]
    async with httpx.AsyncClient(base_url=secured_url) as client:
        for value, status in ((old, 401), (forged, 401), (fresh, 200)):
            got = await client.get("/api/tasks", headers={"Cookie": f"ghostbus_session={value}"})
            assert got.status_code == status


async def test_a_burst_of_wrong_sign_ins_is_throttled(secured_url: str) -> None:
    async with httpx.AsyncClient(base_url=secured_url) as client:
        answers = await asyncio.gather(*(client.post("/login", data={"token": f"guess-{n}"}) for n in range(200)))
        statuses = Counter(a.status_code for a in answers)
        # Only the first few were looked at; the rest were told to wait, however the guesses are sent.
        assert statuses[401] <= 10 and statuses[429] >= 190, statuses
        assert int(next(a for a in answers if a.status_code == 429).headers["retry-after"]) > 0
        # Until the wait is over, not even the right token is tried from that address.
        assert (await client.post("/login", data={"token": TOKEN})).status_code == 429


async def test_a_burst_of_wrong_bearer_tokens_is_throttled(secured_url: str) -> None:
    async with httpx.AsyncClient(base_url=secured_url) as client:
        answers = await asyncio.gather(
            *(client.get("/api/tasks", headers={"Authorization": f"Bearer guess-{n}"}) for n in range(200))
        )
    statuses = Counter(a.status_code for a in answers)
    assert statuses[401] <= 10 and statuses[429] >= 190, statuses


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
async def test_the_bearer_scheme_is_read_in_any_case(secured_url: str, scheme: str) -> None:
    async with httpx.AsyncClient(base_url=secured_url) as client:
        got = await client.get("/api/tasks", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert got.status_code == 200
