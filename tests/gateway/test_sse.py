"""`/events`: ids are JetStream sequences; a reconnect with Last-Event-ID gets exactly what it missed."""

from __future__ import annotations

import re
from typing import Any

import httpx

HX = {"HX-Request": "true"}
NAME = re.compile(r'<span class="name">(.*?)</span>')


def item_name(html: str) -> str:
    found = NAME.search(html)
    assert found, html
    return found.group(1)


async def read_events(
    client: httpx.AsyncClient, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The first `count` SSE events (comments and pings skipped), each with its id, type and data."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with client.stream("GET", "/events", headers=headers or {}, timeout=10) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(":")
                current[key] = value.removeprefix(" ")
    return events


async def test_a_reconnect_gets_exactly_the_missed_events_in_order(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        for name in ("a", "b", "c", "d"):
            assert (await client.post("/tasks", data={"name": name}, headers=HX)).status_code == 200
        missed = await read_events(client, 2, {"Last-Event-ID": "2"})
        assert [(e["id"], e["event"], item_name(e["data"])) for e in missed] == [("3", "task", "c"), ("4", "task", "d")]
        assert 'id="task-3"' in missed[0]["data"] and 'data-kind="created"' in missed[0]["data"]


async def test_the_query_cursor_is_used_when_no_last_event_id_is_sent(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        for name in ("a", "b"):
            await client.post("/tasks", data={"name": name}, headers=HX)
        async with client.stream("GET", "/events?after=1", timeout=10) as response:
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    break
        assert "id: 2" in lines and "event: task" in lines


async def test_an_unusable_cursor_gets_a_reset_with_the_whole_list(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        await client.post("/tasks", data={"name": "apples"}, headers=HX)
        assert len(await read_events(client, 1, {"Last-Event-ID": "0"})) == 1  # the event is in the stream
        events = await read_events(client, 1, {"Last-Event-ID": "999"})
    assert events[0]["event"] == "reset" and events[0]["id"] == "1"
    assert item_name(events[0]["data"]) == "apples"


async def test_names_arrive_escaped_inside_the_item(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        await client.post("/tasks", data={"name": '<img src=x onerror="alert(1)">'}, headers=HX)
        (event,) = await read_events(client, 1, {"Last-Event-ID": "0"})
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in event["data"] and "<img" not in event["data"]
