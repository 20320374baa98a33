"""The page and the task forms: everything goes through crud's commands; bad input gets a clear answer."""

from __future__ import annotations

import contextlib
import sqlite3

import httpx
from nats.aio.client import Client

from proto import subjects
from proto.codec import encode
from proto.messages import ChatMessage
from services.crud.service import Crud

HX = {"HX-Request": "true"}


async def test_the_page_lists_tasks_with_names_as_text(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        added = await client.post("/tasks", data={"name": "<script>alert(1)</script>"}, headers=HX)
        assert added.status_code == 200 and added.text == "Added “<script>alert(1)</script>”."
        page = await client.get("/")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    assert 'id="task-1"' in page.text


async def test_a_cross_site_form_cannot_change_anything(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        refused = await client.post("/tasks", data={"name": "evil"})
        form_to_api = await client.post("/api/tasks", data={"name": "evil"})
        listed = await client.get("/api/tasks")
    assert refused.status_code == 403 and form_to_api.status_code == 415
    assert listed.json() == []


async def test_bad_names_and_unknown_tasks_get_readable_errors(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        empty = await client.post("/tasks", data={"name": "   "}, headers=HX)
        long = await client.post("/tasks", data={"name": "x" * 201}, headers=HX)
        huge = await client.post("/tasks", data={"name": "x" * 10_240}, headers=HX)
        control = await client.post("/tasks", data={"name": "a\x1bb"}, headers=HX)
        missing = await client.post("/tasks/42/toggle", headers=HX)
        api = await client.post("/api/commands", json={"command": {"op": "fly"}})
    assert empty.status_code == 422 and "at least 1 character" in empty.text
    assert long.status_code == 422 and "200" in long.text
    assert huge.status_code == 422 and "200" in huge.text
    assert control.status_code == 422 and "control characters" in control.text
    assert missing.status_code == 404 and "#42" in missing.text
    assert api.status_code == 422 and "op" in api.json()["error"]


async def test_the_api_runs_commands_as_a_person(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        made = await client.post("/api/tasks", json={"name": "milk"})
        bad = await client.post("/api/tasks", json={"name": ""})
        done = await client.post("/api/commands", json={"command": {"op": "toggle", "name": "MILK"}})
        listed = await client.get("/api/tasks")
        gone = await client.delete(f"/api/tasks/{made.json()['id']}")
        again = await client.delete(f"/api/tasks/{made.json()['id']}")
        after = await client.get("/api/tasks")
    assert made.status_code == 201 and made.json()["name"] == "milk" and made.json()["summary"] == "Added “milk”."
    assert bad.status_code == 422 and "at least 1 character" in bad.json()["error"]
    assert done.json()["summary"] == "Marked “milk” done."
    assert listed.json() == [{"id": made.json()["id"], "name": "milk", "done": True, "position": 0, "version": 2}]
    assert gone.status_code == 200 and again.status_code == 404 and after.json() == []


async def test_health_and_assets(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        health = await client.get("/healthz")
        htmx = await client.get("/assets/htmx.min.js")
        unknown = await client.get("/assets/nothing.js")
    assert health.status_code == 200 and health.text == "ok"
    assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
    assert unknown.status_code == 404


async def test_the_conversation_comes_back_with_answers_rendered_safely(gateway_url: str, nc: Client) -> None:
    said = [
        ChatMessage(message_id="m1", thread_id="t1", role="user", text="**hi** <b>there</b>", run_id="r1"),
        ChatMessage(
            message_id="m2", thread_id="t1", role="assistant", text="Added **milk**. <img src=x onerror=alert(1)>"
        ),
    ]
    for message in said:
        await nc.request(subjects.CONVERSATION_APPEND, encode(message), timeout=5)
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        got = (await client.get("/api/conversations/t1")).json()
        bad = await client.get("/api/conversations/not%20an%20id")
    assert [(m["role"], m["text"]) for m in got] == [(m.role, m.text) for m in said]
    assert "html" not in got[0] and got[0]["run_id"] == "r1"
    assert got[1]["html"] == "<p>Added <strong>milk</strong>. &lt;img src=x onerror=alert(1)&gt;</p>\n"
    assert bad.status_code == 422


async def test_crud_s_own_reason_for_failing_reaches_the_person(gateway_url: str, crud: Crud) -> None:
    # crud answers with an error (nats.micro's error headers) when its database is broken under it.
    with contextlib.closing(sqlite3.connect(crud.settings.db_path)) as db:
        db.execute("DROP TABLE tasks")
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        listed = await client.get("/api/tasks")
        page = await client.get("/")
    assert listed.status_code == 503 and "no such table: tasks" in listed.json()["error"]
    assert page.status_code == 200 and "no such table: tasks" in page.text
