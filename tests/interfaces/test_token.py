"""/agui and /mcp sit behind the gateway's access token like every other route: refused without it, served
with it as a bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.interfaces.conftest import SCRIPTED, run_input
from tests.support.stack import Stack

pytestmark = pytest.mark.slow

TOKEN = "interfaces-token-0123456789"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("locked"), env={"GATEWAY_ACCESS_TOKEN": TOKEN})
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
