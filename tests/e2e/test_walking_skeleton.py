"""The whole stack as `make run` starts it (nats-server, crud, an llm_worker with the real embedded
model, the gateway), driven from two real Chromium pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from services.llm_worker.backends.embedded import model_path
from tests.gateway.test_browser import open_page
from tests.support.browser import chromium
from tests.support.stack import Stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    models = tmp_path_factory.getbasetemp() / "e2e-models"
    model_path(models)
    running = Stack(base, env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models)})
    running.start(workers=1)
    yield running
    running.stop()


async def test_add_apples_in_the_chat_puts_apples_on_every_open_page(stack: Stack) -> None:
    async with chromium() as browser:
        first, second = [await open_page(browser, stack.url) for _ in range(2)]
        await first.fill("#chat-input", "add apples")
        await first.press("#chat-input", "Enter")
        for page in (first, second):
            await expect(page.locator("#tasks .task .name")).to_have_text(["apples"], timeout=30_000)
        reply = first.locator(".msg.assistant").last
        await expect(reply.locator(".text")).to_have_text("Added “apples”.")
        await expect(reply.locator(".chip")).to_contain_text("✓ added: apples")
        await expect(reply.locator(".meta")).to_contain_text("gemma3-270m")
        chat = await first.locator("#messages").inner_text()
        assert "{" not in chat and '"op"' not in chat
        # The model's change is marked as the model's doing in the other tab too.
        await expect(second.locator("#tasks .task .by")).to_have_text("by gemma3-270m")
        # Undo on the chip takes it back, in every tab.
        await reply.locator(".chip .undo").click()
        for page in (first, second):
            await expect(page.locator("#tasks .task")).to_have_count(0)
        await expect(reply.locator(".chip")).to_have_attribute("data-undone", "true")


async def test_the_forms_change_the_list_in_every_tab_through_the_same_commands(stack: Stack) -> None:
    async with chromium() as browser:
        first, second = await browser.new_page(), await browser.new_page()
        dialogs: list[str] = []
        for page in (first, second):
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            await page.goto(stack.url)
            await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")
        before = await first.locator("#tasks .task").count()
        await first.fill("#add-name", "milk <b>bold</b> <img src=x onerror=alert(1)>")
        await first.press("#add-name", "Enter")
        item = second.locator("#tasks .task", has_text="milk")
        await expect(item.locator(".name")).to_have_text("milk <b>bold</b> <img src=x onerror=alert(1)>")
        assert await second.locator("#tasks img").count() == 0
        await item.locator(".toggle").click()
        await expect(first.locator("#tasks .task.done", has_text="milk")).to_have_count(1)
        await first.locator("#tasks .task", has_text="milk").locator(".delete").click()
        await expect(second.locator("#tasks .task")).to_have_count(before)
        await first.fill("#add-name", "x" * 200 + "y")
        await first.evaluate("document.getElementById('add-name').removeAttribute('maxlength')")
        await first.fill("#add-name", "x" * 201)
        await first.press("#add-name", "Enter")
        await expect(first.locator("#form-error")).to_contain_text("200")
        # Markup typed into the chat is shown as the person typed it, and nothing runs.
        await first.fill("#chat-input", "<img src=x onerror=alert(2)> hi")
        await first.press("#chat-input", "Enter")
        await expect(first.locator(".msg.user").last).to_have_text("<img src=x onerror=alert(2)> hi")
        await expect(first.locator(".msg.assistant .meta").last).not_to_be_empty(timeout=30_000)
        assert await first.locator("#messages img").count() == 0
        assert dialogs == []


def test_the_stack_shuts_down_cleanly(tmp_path: Path) -> None:
    """Every service exits on SIGTERM with status 0 (what Ctrl-C in `make run` relies on)."""
    running = Stack(tmp_path, env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(tmp_path / "models")})
    running.start(workers=1)
    codes = {service.name: service.stop() for service in reversed(running.services)}
    if running.nats:
        running.nats.stop()
    logs = {service.name: service.output() for service in running.services}
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the gateway's status is -15 by design.
    assert codes == {"gateway": -15, "llm_worker0": 0, "crud": 0}, logs
    assert "Application shutdown complete" in logs["gateway"]
    assert "Traceback" not in "".join(logs.values()), logs


async def test_bang_test_reports_hop_timings_and_shows_a_toast_in_every_tab(stack: Stack) -> None:
    async with chromium() as browser:
        first, second = [await open_page(browser, stack.url) for _ in range(2)]
        await first.fill("#chat-input", "!test")
        await first.press("#chat-input", "Enter")
        reply = first.locator(".msg.assistant").last.locator(".text")
        await expect(reply).to_contain_text("gateway → worker:")
        for page in (first, second):
            await expect(page.locator(".toast")).to_contain_text("Test notification")
        # The conversation is kept: a reloaded page shows it again.
        await first.reload()
        await expect(first.locator(".msg.user").last).to_have_text("!test")


async def test_clearing_completed_waits_for_approval_from_any_tab(stack: Stack) -> None:
    async with chromium() as browser:
        first, second = [await open_page(browser, stack.url) for _ in range(2)]
        for name in ("oat milk", "rye bread"):
            await first.fill("#add-name", name)
            await first.press("#add-name", "Enter")
            await expect(first.locator("#tasks .task", has_text=name)).to_have_count(1)
        await first.locator("#tasks .task", has_text="oat milk").locator(".toggle").click()
        await expect(second.locator("#tasks .task.done", has_text="oat milk")).to_have_count(1)
        done = await second.locator("#tasks .task.done .name").all_inner_texts()
        await first.fill("#chat-input", "clear completed tasks")
        await first.press("#chat-input", "Enter")
        # The real model chose clear_completed; it waits, in both tabs, and nothing is removed yet.
        for page in (first, second):
            question = page.locator("#confirmations .confirmation .question")
            await expect(question).to_contain_text("gemma3-270m asks: Remove", timeout=30_000)
            await expect(question).to_contain_text("“oat milk”")
        await expect(first.locator("#tasks .task", has_text="oat milk")).to_have_count(1)
        await second.locator("#confirmations button.approve").click()
        for page in (first, second):
            await expect(page.locator("#confirmations .answer")).to_have_text("Approved.")
            await expect(page.locator("#tasks .task.done")).to_have_count(0)
            await expect(page.locator("#tasks .task", has_text="rye bread")).to_have_count(1)
        reply = first.locator(".msg.assistant").last
        await expect(reply.locator(".text")).to_contain_text(f"Cleared {len(done)} done")
        await expect(reply.locator(".chip")).to_have_attribute("data-state", "done")
