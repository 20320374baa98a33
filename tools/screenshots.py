"""`python -m tools.screenshots`: the README's pictures of the page (docs/screenshot-light.png and
docs/screenshot-dark.png), taken in Chromium from the whole stack with the embedded model: a few
requests in the chat, the last one waiting for approval."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import Page, expect

from services.llm_worker.backends.embedded import model_path
from tests.support.browser import chromium
from tests.support.stack import ROOT, Stack

DOCS = ROOT / "docs"
MODELS = ROOT / "var" / "models"
SAID = ("add milk", "add call the bank", "add apples", "I finished the milk")
WAITING = "clear completed tasks"


async def say(page: Page, text: str) -> None:
    answers = await page.locator(".msg.assistant .meta").count()
    await page.fill("#chat-input", text)
    await page.press("#chat-input", "Enter")
    await expect(page.locator(".msg.assistant .meta")).to_have_count(answers + 1, timeout=60_000)


async def shoot(url: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1100, "height": 720})
        await page.goto(url)
        await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
        for text in SAID:
            await say(page, text)
        await page.fill("#chat-input", WAITING)
        await page.press("#chat-input", "Enter")
        await expect(page.locator("#confirmations button.approve")).to_be_visible(timeout=60_000)
        await page.wait_for_timeout(3000)  # let the model's highlight on the list fade
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            await page.screenshot(path=str(DOCS / f"screenshot-{scheme}.png"))


def main() -> None:
    model_path(MODELS)
    with tempfile.TemporaryDirectory() as directory:
        stack = Stack(Path(directory), env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(MODELS)})
        stack.start(workers=1)
        try:
            asyncio.run(shoot(stack.url))
        finally:
            stack.stop()
    print("docs/screenshot-light.png and docs/screenshot-dark.png written")


if __name__ == "__main__":
    main()
