"""One conversation, live in every tab of a person (one browser profile): the question shows in every tab,
the answer streams into each as it is written, a tab opened mid-answer replays it from its first token,
Stop in any tab stops it for all; another person (another profile) sees none of it, but sees the list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import chromium
from tests.support.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Each answer: 90 tokens at 15 a second, six seconds; each token is the time it was written, so an answer
# with a token lost, doubled or out of order reads differently from the original.
SLOW = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "90", "LLM_SCRIPT_RATE": "15", "LLM_CAPACITY": "4"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("shared"))
    try:
        running.start(workers=1, worker_env=SLOW)
        yield running
    finally:
        running.stop()


async def ready(page: Page, url: str) -> Page:
    await page.goto(url)
    await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
    return page


async def answer_of(page: Page) -> str:
    """The last answer's text once it has finished (its meta line shows the model)."""
    last = page.locator(".msg.assistant").last
    await expect(last.locator(".meta")).to_contain_text("scripted", timeout=30_000)
    return await last.locator(".text").inner_text()


async def test_every_tab_of_a_person_shows_the_conversation_live(stack: Stack) -> None:
    async with chromium() as browser:
        mine, theirs = await browser.new_context(), await browser.new_context()
        first, second = await ready(await mine.new_page(), stack.url), await ready(await mine.new_page(), stack.url)
        other = await ready(await theirs.new_page(), stack.url)

        await first.fill("#chat-input", "tell me a story")
        await first.press("#chat-input", "Enter")
        # The other tab shows the question at once and the answer while it is being written.
        await expect(second.locator(".msg.user")).to_have_text(["tell me a story"])
        await expect(second.locator(".msg.assistant .text.streaming")).to_have_count(1, timeout=10_000)
        assert not await second.locator(".msg.assistant .meta").inner_text(), "still streaming"
        # A tab opened half-way through replays the answer from its first token.
        await first.wait_for_timeout(3000)
        late = await ready(await mine.new_page(), stack.url)
        answers = [await answer_of(page) for page in (first, second, late)]
        assert len(answers[0].split()) == 90
        assert answers[1] == answers[0] and answers[2] == answers[0], "each token once, in order, in every tab"
        await expect(late.locator(".msg.user")).to_have_text(["tell me a story"])

        # A reload shows the conversation.
        await second.reload()
        await expect(second.locator(".msg.user")).to_have_text(["tell me a story"])
        await expect(second.locator(".msg.assistant")).to_have_count(1)

        # Stop in one tab stops the answer another tab asked for.
        await first.fill("#chat-input", "another story")
        await first.press("#chat-input", "Enter")
        await expect(second.locator(".msg.assistant .text.streaming")).to_have_count(1, timeout=10_000)
        await second.locator("#chat-stop").click()
        await expect(first.locator(".msg.assistant").last).to_contain_text("Stopped", timeout=10_000)
        stopped = await first.locator(".msg.assistant").last.locator(".text").inner_text()
        assert len(stopped.split()) < 90, "the answer ended early"

        # Another person sees no chat of the first, but every change to the list.
        await first.fill("#add-name", "shared milk")
        await first.press("#add-name", "Enter")
        await expect(other.locator("#tasks .task .name")).to_have_text(["shared milk"])
        await expect(other.locator(".msg")).to_have_count(0)
        await other.screenshot(path=str(stack.base / "other-person.png"))
