"""Approve / Reject in real Chromium: a model's command that changes many tasks waits in every tab,
the first answer from any tab counts, and every tab shows it. Real gateway, crud and worker; the model
is a fake Ollama speaking its wire format, asked for a native tool call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from services.llm_worker.config import Settings as WorkerSettings
from services.llm_worker.worker import running
from tests.gateway.test_browser import api, open_page
from tests.support.browser import chromium
from tests.support.fake_ollama import FakeOllama, serving
from tests.support.natsd import NatsServer

pytestmark = pytest.mark.browser

NASTY = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running_browser:
        yield running_browser


@pytest.fixture
async def clearing_worker(nats_server: NatsServer) -> AsyncIterator[FakeOllama]:
    fake = FakeOllama(["Let me clear those."], calls=[("clear_completed", {})], followup=["All right."])
    async with serving(fake):
        settings = WorkerSettings(NATS_URL=nats_server.url, backend="ollama", strategy="tools", OLLAMA_HOST=fake.url)
        async with running(settings):
            yield fake


async def two_done_one_open(url: str) -> None:
    for name in ("milk", NASTY, "bread"):
        await api(url, {"op": "create", "name": name})
    await api(url, {"op": "set_done", "name": "milk"})
    await api(url, {"op": "set_done", "name": NASTY})


async def ask_to_clear(page: Page) -> None:
    await page.fill("#chat-input", "clear the finished ones")
    await page.press("#chat-input", "Enter")


async def test_approve_in_another_tab_clears_in_every_tab(
    gateway_url: str, clearing_worker: FakeOllama, browser: Browser
) -> None:
    await two_done_one_open(gateway_url)
    asking, other = await open_page(browser, gateway_url), await open_page(browser, gateway_url)
    await ask_to_clear(asking)
    question = f"Remove 2 completed tasks: “milk”, “{NASTY}”?"
    for tab in (asking, other):
        card = tab.locator("#confirmations .confirmation")
        await expect(card.locator(".question")).to_have_text(f"llama3.2 asks: {question}")
        await expect(card.locator("button")).to_have_text(["Approve", "Reject"])
        await expect(tab.locator("#tasks .task")).to_have_count(3)  # nothing happens before the answer
    # A tab opened while the question is open shows it too.
    late = await open_page(browser, gateway_url)
    await expect(late.locator("#confirmations .confirmation .question")).to_contain_text(question)
    await other.locator("#confirmations button.approve").click()
    for tab in (asking, other, late):
        await expect(tab.locator("#confirmations .confirmation .answer")).to_have_text("Approved.")
        await expect(tab.locator("#confirmations button")).to_have_count(0)
        await expect(tab.locator("#tasks .task .name")).to_have_text(["bread"])
    chip = asking.locator(".msg.assistant").last.locator(".chip")
    await expect(chip).to_have_attribute("data-state", "done")
    await expect(asking.locator(".msg.assistant").last.locator(".text")).to_contain_text("All right.")
    assert asking.dialogs == other.dialogs == late.dialogs == []
    assert await asking.locator("#confirmations img").count() == 0


async def test_reject_keeps_the_list_and_a_late_answer_is_refused_clearly(
    gateway_url: str, clearing_worker: FakeOllama, browser: Browser
) -> None:
    await two_done_one_open(gateway_url)
    asking, other = await open_page(browser, gateway_url), await open_page(browser, gateway_url)
    await ask_to_clear(asking)
    await expect(other.locator("#confirmations button.reject")).to_be_visible()
    run_id = await other.locator("#confirmations .confirmation").get_attribute("data-run")
    call_id = await other.locator("#confirmations .confirmation").get_attribute("data-call")
    await asking.locator("#confirmations button.reject").click()
    for tab in (asking, other):
        await expect(tab.locator("#confirmations .answer")).to_have_text("Rejected: nothing was changed.")
        await expect(tab.locator("#tasks .task")).to_have_count(3)
    chip = asking.locator(".msg.assistant").last.locator(".chip")
    await expect(chip).to_have_attribute("data-state", "failed")
    await expect(chip).to_have_attribute("title", "Rejected in the chat; nothing was changed.")
    # The question is answered: another answer now (a stale tab, a script) is refused with a reason.
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        late = await client.post(f"/api/runs/{run_id}/confirmations/{call_id}", json={"approve": True})
        form = await client.post(f"/api/runs/{run_id}/confirmations/{call_id}", data={"approve": "true"})
        bad = await client.post("/api/runs/bad%20id/confirmations/x", json={"approve": True})
        vague = await client.post(f"/api/runs/{run_id}/confirmations/{call_id}", json={"approve": "yes"})
    assert late.status_code == 409 and late.json() == {"error": "It was already rejected.", "state": "rejected"}
    assert form.status_code == 415  # a cross-site form cannot answer
    assert bad.status_code == 422 and vague.status_code == 422
    await expect(asking.locator("#tasks .task")).to_have_count(3)
