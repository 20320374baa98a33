"""/agui and /mcp sit behind the gateway's access token like every other route: refused without it, served
with it as a bearer token; on a bus locked down as `make run` runs it (each service its own NATS user)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.deploy.natsconf import violations
from tests.interfaces.conftest import SCRIPTED, run_input, until
from tests.support.stack import Stack

pytestmark = pytest.mark.slow

TOKEN = "interfaces-token-0123456789"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("locked"), env={"GATEWAY_ACCESS_TOKEN": TOKEN}, secure=True)
    try:
        stack.start(worker_env=SCRIPTED)
        yield stack
    finally:
        stack.stop()


async def test_without_the_token_both_doors_are_shut(locked: Stack) -> None:
    async with httpx.AsyncClient(base_url=locked.url) as http:
        agui = await http.post("/agui", json=run_input("add milk", "locked-1"))
        mcp = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        tasks = (await http.get("/api/tasks", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert agui.status_code == 401 and mcp.status_code == 401
    assert tasks == [], "nothing was run without the token"


async def test_with_the_bearer_token_an_agent_is_served(locked: Stack) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=bearer) as http,
        Client(
            streamable_http_client(locked.url + "/mcp", http_client=http),
            client_info=types.Implementation(name="token-agent", version="1"),
        ) as client,
    ):
        made = await client.call_tool("create", {"name": "behind the token"})
    assert not made.is_error
    async with httpx.AsyncClient(base_url=locked.url, headers=bearer) as http:
        assert "behind the token" in [t["name"] for t in (await http.get("/api/tasks")).json()]


async def test_a_bulk_change_waits_for_an_approval_given_over_http(locked: Stack) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    asked: list[tuple[str, str]] = []

    async with httpx.AsyncClient(base_url=locked.url, headers=bearer, timeout=30) as http:
        made = (await http.post("/api/tasks", json={"name": "done already"})).json()
        await http.post("/api/commands", json={"command": {"op": "set_done", "id": made["id"]}})

        async def watch() -> None:
            async with http.stream("GET", "/events") as events:
                async for line in events.aiter_lines():
                    found = re.search(r'data-state="pending" data-run="([^"]+)" data-call="([^"]+)"', line)
                    if found:
                        asked.append((found.group(1), found.group(2)))

        watcher = asyncio.create_task(watch())
        try:
            async with (
                httpx2.AsyncClient(headers=bearer) as agent_http,
                Client(
                    streamable_http_client(locked.url + "/mcp", http_client=agent_http),
                    client_info=types.Implementation(name="token-agent", version="1"),
                ) as client,
            ):
                call = asyncio.create_task(client.call_tool("clear_completed", {}))
                await until(lambda: bool(asked), "the question in every tab")
                assert not call.done()
                run_id, call_id = asked[0]
                answer = await http.post(f"/api/runs/{run_id}/confirmations/{call_id}", json={"approve": True})
                assert answer.status_code == 200, answer.text
                result = await asyncio.wait_for(call, 15)
        finally:
            watcher.cancel()
        assert not result.is_error
        assert "done already" not in [t["name"] for t in (await http.get("/api/tasks")).json()]
        audit = (await http.get("/api/audit")).json()
    assert locked.nats is not None
    by_agent = {(row["what"], row["who"]) for row in audit if row["actor"]["kind"] == "agent"}
    assert ("clear_completed", "agent token-agent") in by_agent, audit[:3]
    assert violations(locked.nats.store_dir / "nats.log") == [], "the gateway was refused something on NATS"
