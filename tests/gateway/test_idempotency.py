"""`Idempotency-Key`: a client that retries a change (its reply was lost, crud was slow) gets the first
answer, and the change is made once; the same key for a different change is refused (422)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from playwright.async_api import Route, expect

from proto import subjects
from proto.codec import encode
from proto.messages import DecisionReply
from tests.support.browser import chromium

HX = {"HX-Request": "true"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_a_retried_create_gets_the_first_answer_and_makes_one_task(gateway_url: str) -> None:
    same = key()
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        first = await client.post("/api/tasks", json={"name": "milk"}, headers=same)
        again = await client.post("/api/tasks", json={"name": "milk"}, headers=same)
        quoted = await client.post(
            "/api/tasks", json={"name": "milk"}, headers={"Idempotency-Key": f'"{same["Idempotency-Key"]}"'}
        )
        other = await client.post("/api/tasks", json={"name": "milk"}, headers=key())
        listed = await client.get("/api/tasks")
    assert first.status_code == again.status_code == quoted.status_code == 201
    assert again.json() == first.json() == quoted.json()
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]  # a new key is a new change
    assert [t["name"] for t in listed.json()] == ["milk", "milk"]


async def test_every_mutating_endpoint_and_the_page_s_forms_take_a_key(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        made = (await client.post("/api/tasks", json={"name": "eggs"})).json()
        toggle, delete, form = key(), key(), key()
        toggled = [
            await client.post("/api/commands", json={"command": {"op": "toggle", "id": made["id"]}}, headers=toggle)
            for _ in range(2)
        ]
        added = [await client.post("/tasks", data={"name": "jam"}, headers=HX | form) for _ in range(2)]
        deleted = [await client.delete(f"/api/tasks/{made['id']}", headers=delete) for _ in range(2)]
        listed = await client.get("/api/tasks")
    # Toggled once (not back and forth), deleted once (the retry is not told "not found"), jam added once.
    assert [r.status_code for r in toggled] == [200, 200] and toggled[0].json() == toggled[1].json()
    assert toggled[0].json()["done"] is True
    assert [r.status_code for r in added] == [200, 200] and added[0].text == added[1].text == "Added “jam”."
    assert [r.status_code for r in deleted] == [200, 200] and deleted[0].json() == deleted[1].json()
    assert [(t["name"], t["done"]) for t in listed.json()] == [("jam", False)]


async def test_a_malformed_key_is_refused_in_words(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        for bad in ('""', "x" * 256, "tab\there"):
            got = await client.post("/api/tasks", json={"name": "milk"}, headers={"Idempotency-Key": bad})
            assert got.status_code == 400 and "Idempotency-Key" in got.json()["error"], bad
        form = await client.post("/tasks", data={"name": "milk"}, headers=HX | {"Idempotency-Key": "x" * 300})
        listed = await client.get("/api/tasks")
    assert form.status_code == 400 and listed.json() == []


async def test_the_same_key_for_another_change_is_422_and_changes_nothing(gateway_url: str) -> None:
    same = key()
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        first = await client.post("/api/tasks", json={"name": "milk"}, headers=same)
        other = await client.post("/api/tasks", json={"name": "bread"}, headers=same)
        form = await client.post("/tasks", data={"name": "bread"}, headers=HX | same)
        listed = await client.get("/api/tasks")
    assert first.status_code == 201
    assert other.status_code == 422 and "already used for a different request" in other.json()["error"]
    assert form.status_code == 422
    assert [t["name"] for t in listed.json()] == ["milk"]


@pytest.mark.browser
async def test_the_page_retries_a_change_whose_reply_was_lost_under_the_same_key(gateway_url: str) -> None:
    keys: list[str] = []

    async def reply_lost_once(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            await route.fetch()  # the gateway makes the change...
            await route.abort()  # ...and the page never hears of it
        else:
            await route.continue_()

    async with chromium() as browser:
        page = await browser.new_page()
        await page.route("**/tasks", reply_lost_once)
        await page.goto(gateway_url)
        await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")
        await page.fill("#add-name", "milk")
        await page.press("#add-name", "Enter")
        await expect(page.locator("#tasks .name")).to_have_text(["milk"])
        async with asyncio.timeout(10):  # the page asks again after a short pause
            while len(keys) < 2:
                await asyncio.sleep(0.05)
        await expect(page.locator("#form-error")).to_be_hidden()
        await page.close()
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 32
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        assert [t["name"] for t in (await client.get("/api/tasks")).json()] == ["milk"]


async def test_a_retried_approval_gets_the_first_answer(gateway_url: str, nc: Client) -> None:
    # Acting as the worker waiting on run r1: the first answer was taken; every later one is "already approved".
    async def worker(msg: Msg) -> None:
        await msg.respond(encode(DecisionReply(accepted=False, state="approved", message="It was already approved.")))

    sub = await nc.subscribe(subjects.chat_decide("r1"), cb=worker)
    await nc.flush()  # the server knows the stand-in worker before the gateway asks it (another connection)
    same = key()
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        url = "/api/runs/r1/confirmations/c1"
        retried = await client.post(url, json={"approve": True}, headers=same)
        other_way = await client.post(url, json={"approve": False}, headers=same)
        unkeyed = await client.post(url, json={"approve": True})
    await sub.unsubscribe()
    assert retried.status_code == 200 and retried.json() == {"state": "approved"}
    assert other_way.status_code == 409 and unkeyed.status_code == 409
