"""`/mcp` against the whole stack with the official `mcp` client: the command language as tools, a task made
by an agent shown on /events and read back, bad calls refused with nothing changed."""

from __future__ import annotations

import asyncio
import json

import httpx
import mcp_types as types
import pytest
from mcp import Client

from tests.interfaces.conftest import until
from tests.support.browser import chromium
from tests.support.stack import Stack

pytestmark = pytest.mark.slow

AGENT = types.Implementation(name="test-agent", version="1")


def text(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_an_agent_lists_tools_creates_a_task_everyone_sees_and_reads_it_back(
    scripted: Stack, http: httpx.AsyncClient
) -> None:
    seen: list[str] = []

    async def follow_events() -> None:
        async with http.stream("GET", "/events") as events:
            async for line in events.aiter_lines():
                seen.append(line)

    follower = asyncio.create_task(follow_events())
    try:
        async with Client(scripted.url + "/mcp", client_info=AGENT) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert {"create", "delete", "clear_completed", "list_tasks"} <= set(tools)
            assert tools["clear_completed"].annotations is not None
            assert tools["clear_completed"].annotations.destructive_hint is True
            assert "op" not in tools["create"].input_schema["properties"]
            async with client.listen(resource_subscriptions=["ghostbus://tasks"]) as changes:
                created = await client.call_tool("create", {"name": "oat milk from an agent"})
                assert not created.is_error, text(created)
                heard = await asyncio.wait_for(anext(aiter(changes)), 10)
            assert getattr(heard, "uri", None) == "ghostbus://tasks"
            listed = await client.call_tool("list_tasks", {})
            assert "oat milk from an agent" in text(listed)
            read = await client.read_resource("ghostbus://tasks")
            first = read.contents[0]
            assert isinstance(first, types.TextResourceContents)
            assert "oat milk from an agent" in [t["name"] for t in json.loads(first.text)]
        names = [t["name"] for t in (await http.get("/api/tasks")).json()]
        assert "oat milk from an agent" in names
        await until(lambda: any("oat milk from an agent" in line and "test-agent" in line for line in seen), "/events")
    finally:
        follower.cancel()


async def test_an_unknown_tool_or_bad_arguments_is_an_error_result_and_nothing_changes(
    scripted: Stack, http: httpx.AsyncClient
) -> None:
    before = (await http.get("/api/tasks")).json()
    async with Client(scripted.url + "/mcp", client_info=AGENT) as client:
        unknown = await client.call_tool("drop_table", {})
        assert unknown.is_error and "Unknown tool" in text(unknown)
        bad = await client.call_tool("create", {"name": ""})
        assert bad.is_error and "Nothing was changed" in text(bad), text(bad)
        extra = await client.call_tool("rename", {"id": 1, "new_name": "x", "shell": "rm -rf /"})
        assert extra.is_error, text(extra)
    assert (await http.get("/api/tasks")).json() == before


async def test_a_retried_call_with_the_same_command_id_is_applied_once(
    scripted: Stack, http: httpx.AsyncClient
) -> None:
    meta = {"ghostbus/commandId": "retry-once-1"}
    async with Client(scripted.url + "/mcp", client_info=AGENT) as client:
        first = await client.call_tool("create", {"name": "only once"}, meta=meta)
        again = await client.call_tool("create", {"name": "only once"}, meta=meta)
    assert not first.is_error and not again.is_error
    names = [t["name"] for t in (await http.get("/api/tasks")).json()]
    assert names.count("only once") == 1


@pytest.mark.browser
async def test_a_destructive_tool_waits_for_approve_in_a_browser_tab(scripted: Stack, http: httpx.AsyncClient) -> None:
    for name in ("approve me a", "approve me b"):
        made = (await http.post("/api/tasks", json={"name": name})).json()
        await http.post("/api/commands", json={"command": {"op": "set_done", "id": made["id"], "done": True}})
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(scripted.url + "/")
        async with Client(scripted.url + "/mcp", client_info=AGENT) as client:
            call = asyncio.create_task(client.call_tool("clear_completed", {}))
            question = page.locator("#confirmations .confirmation[data-state=pending]")
            await question.wait_for(timeout=10_000)
            assert "test-agent asks" in await question.inner_text()
            assert not call.done(), "the call must wait for the person"
            await question.locator("button.approve").click()
            result = await asyncio.wait_for(call, 15)
        assert not result.is_error, text(result)
        await page.locator("li.task", has_text="approve me a").wait_for(state="detached", timeout=10_000)
    names = [t["name"] for t in (await http.get("/api/tasks")).json()]
    assert "approve me a" not in names and "approve me b" not in names
