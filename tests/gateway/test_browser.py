"""The page in real Chromium against the real gateway and crud: every tab sees every change, edits
and drags go through crud's commands, run events stream as text and finish as safe Markdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client
from playwright.async_api import Browser, Page, expect
from pydantic import BaseModel

from proto import subjects
from proto.codec import bundle, decode, encode
from proto.commands import TaskCreate
from proto.events import (
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from proto.messages import PERSON, ChatMessage, CommandRequest, Notice, RunRequest
from services.gateway.config import Settings
from services.gateway.server import create_server
from tests.support.browser import chromium
from tests.support.natsd import NatsServer
from tests.support.run_events import RunEvents
from tests.support.stack import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


async def open_page(browser: Browser, url: str) -> Page:
    page = await browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.on("pageerror", lambda error: dialogs.append(f"page error: {error}"))
    page.dialogs = dialogs
    await page.goto(url)
    await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
    return page


async def api(url: str, command: dict[str, object]) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/commands", json={"command": command})
    body: dict[str, object] = response.json()
    return body


async def test_three_tabs_see_changes_from_forms_other_tabs_and_scripts(gateway_url: str, browser: Browser) -> None:
    tabs = [await open_page(browser, gateway_url) for _ in range(3)]
    await tabs[0].fill("#add-name", "apples")
    await tabs[0].press("#add-name", "Enter")
    await api(gateway_url, {"op": "create", "name": "bread"})
    for tab in tabs:
        await expect(tab.locator("#tasks .task .name")).to_have_text(["apples", "bread"])
    await tabs[1].locator("#tasks .task", has_text="apples").locator(".toggle").click()
    for tab in tabs:
        await expect(tab.locator("#tasks .task.done .name")).to_have_text(["apples"])
        await expect(tab.locator("#counts")).to_have_text("1 open · 1 done")
    await tabs[2].locator("#clear-completed").click()
    for tab in tabs:
        await expect(tab.locator("#tasks .task .name")).to_have_text(["bread"])


async def test_rename_inline_and_drag_to_reorder(gateway_url: str, browser: Browser) -> None:
    for name in ("apples", "bread", "cheese"):
        await api(gateway_url, {"op": "create", "name": name})
    page, other = await open_page(browser, gateway_url), await open_page(browser, gateway_url)
    await page.locator("#tasks .task .name", has_text="bread").dblclick()
    await page.fill("#tasks .rename", "rye bread")
    await page.press("#tasks .rename", "Enter")
    await expect(other.locator("#tasks .task .name")).to_have_text(["apples", "rye bread", "cheese"])
    await page.locator("#tasks .task", has_text="cheese").drag_to(page.locator("#tasks .task", has_text="apples"))
    await expect(other.locator("#tasks .task .name")).to_have_text(["cheese", "apples", "rye bread"])


async def test_markup_in_names_and_answers_never_runs(gateway_url: str, nc: Client, browser: Browser) -> None:
    nasty = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(2)>",
        '<a href="javascript:alert(3)">click</a>',
        "<b>unclosed <i>tags",
        '"><svg onload=alert(4)>',
    ]
    for name in nasty:
        await api(gateway_url, {"op": "create", "name": name})
    page = await open_page(browser, gateway_url)
    await expect(page.locator("#tasks .task .name")).to_have_text(nasty)
    tokens = ["Here: ", "[x](javascript:alert(5)) ", "<img src=y onerror=alert(6)> ", "**bold**"]
    run_id = await fake_run(page, nc, tokens)
    reply = page.locator(".msg.assistant").last
    await expect(reply.locator(".text strong")).to_have_text("bold")
    assert await page.locator("#tasks img, #tasks svg, #tasks script, #messages img, #messages script").count() == 0
    link = reply.locator(".text a")
    assert await link.count() == 0 or "javascript:" not in (await link.first.get_attribute("href") or "")
    assert page.dialogs == [], run_id


async def fake_run(page: Page, nc: Client, tokens: list[str], bundled: bool = False) -> str:
    """Send a chat message from the page and answer it as a worker would, token by token; `bundled`: as a busy
    worker does, the run's start with the first token and the last token with the ends (`codec.bundle`), so the
    page gets those events in one frame each."""
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    await page.fill("#chat-input", "say something")
    await page.press("#chat-input", "Enter")
    msg = (await queue.fetch(1, timeout=5))[0]
    request = decode(RunRequest, msg.data)
    run = RunEvents(js, request.run_id)
    result = {"model": "scripted", "ttft_s": 0.01, "tokens": len(tokens), "tokens_per_s": 50.0}
    events: list[BaseModel] = [
        RunStartedEvent(thread_id=request.thread_id, run_id=request.run_id),
        TextMessageStartEvent(message_id="m", role="assistant"),
        *(TextMessageContentEvent(message_id="m", delta=token) for token in tokens),
        TextMessageEndEvent(message_id="m"),
        RunFinishedEvent(thread_id=request.thread_id, run_id=request.run_id, result=result),
    ]
    if bundled:
        await run.publish(bundle([encode(event) for event in events[:3]]))
        for event in events[3:-3]:
            await run.publish(event)
        await run.publish(bundle([encode(event) for event in events[-3:]]))
    else:
        for event in events:
            await run.publish(event)
    await msg.ack()
    await queue.unsubscribe()
    return request.run_id


async def test_repeated_tokens_show_twice_and_a_long_answer_streams(
    gateway_url: str, nc: Client, browser: Browser
) -> None:
    page = await open_page(browser, gateway_url)
    await fake_run(page, nc, ["ha", "ha", "ha"])
    await expect(page.locator(".msg.assistant").last.locator(".text")).to_have_text("hahaha")
    started = asyncio.get_running_loop().time()
    await fake_run(page, nc, ["word " for _ in range(2_000)])  # 10,000 characters
    reply = page.locator(".msg.assistant").last
    await expect(reply.locator(".meta")).to_contain_text("scripted · first token 10 ms · 50 tokens/s", timeout=30_000)
    text = await reply.locator(".text").inner_text()
    assert text.split() == ["word"] * 2_000
    # The page stayed responsive while it streamed: typing works at once.
    await page.fill("#chat-input", "still here")
    assert await page.input_value("#chat-input") == "still here"
    assert asyncio.get_running_loop().time() - started < 30


async def test_an_answer_whose_events_come_several_in_a_frame_shows_whole(
    gateway_url: str, nc: Client, browser: Browser
) -> None:
    page = await open_page(browser, gateway_url)
    await fake_run(page, nc, ["Under ", "load ", "**too**"], bundled=True)
    reply = page.locator(".msg.assistant").last
    await expect(reply.locator(".text strong")).to_have_text("too")
    await expect(reply.locator(".text")).to_have_text("Under load too")
    await expect(reply.locator(".meta")).to_contain_text("scripted · first token 10 ms · 50 tokens/s")


async def test_events_missed_while_disconnected_arrive_after_reconnect_in_order_once(
    gateway_url: str, browser: Browser
) -> None:
    page = await open_page(browser, gateway_url)
    await api(gateway_url, {"op": "create", "name": "before"})
    await expect(page.locator("#tasks .task .name")).to_have_text(["before"])
    # Cut the page's event stream (as a network drop would), change things, then let it reconnect.
    await page.evaluate("window.ghostbus.source.close()")
    for name in ("one", "two", "three"):
        await api(gateway_url, {"op": "create", "name": name})
    await api(gateway_url, {"op": "toggle", "name": "two"})
    await page.evaluate("window.ghostbus.connectEvents()")
    await expect(page.locator("#tasks .task .name")).to_have_text(["before", "one", "two", "three"])
    await expect(page.locator("#tasks .task.done .name")).to_have_text(["two"])
    seen = json.loads(await page.evaluate("JSON.stringify(window.ghostbus.seen)"))
    assert seen == list(range(1, 6)), "each event once, in order"


async def test_a_reload_in_the_middle_of_an_answer_resumes_it(gateway_url: str, nc: Client, browser: Browser) -> None:
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    page = await open_page(browser, gateway_url)
    await page.fill("#chat-input", "tell me a story")
    await page.press("#chat-input", "Enter")
    msg = (await queue.fetch(1, timeout=5))[0]
    request = decode(RunRequest, msg.data)
    run = RunEvents(js, request.run_id)
    await run.publish(RunStartedEvent(thread_id=request.thread_id, run_id=request.run_id))
    await run.publish(TextMessageStartEvent(message_id="m", role="assistant"))
    await run.publish(TextMessageContentEvent(message_id="m", delta="Once upon "))
    await expect(page.locator(".msg.assistant .text")).to_have_text(["Once upon "])
    await page.reload()
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
    await expect(page.locator(".msg.assistant .text")).to_have_text(["Once upon "])
    await expect(page.locator("#chat-stop")).to_be_visible()
    await run.publish(TextMessageContentEvent(message_id="m", delta="a time."))
    await run.publish(TextMessageEndEvent(message_id="m"))
    result = {"model": "scripted", "ttft_s": 0.02, "tokens": 4, "tokens_per_s": 40.0}
    finished = RunFinishedEvent(thread_id=request.thread_id, run_id=request.run_id, result=result)
    await run.publish(finished)
    await msg.ack()
    await expect(page.locator(".msg.assistant .text")).to_have_text(["Once upon a time."])
    await expect(page.locator(".msg.assistant .meta")).to_have_text(["scripted · first token 20 ms · 40 tokens/s"])
    await expect(page.locator(".msg.user")).to_have_text(["tell me a story"])
    await expect(page.locator("#chat-stop")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('ghostbus-run')") is None, "a finished run is not resumed"
    # What crud keeps of the conversation (the worker stores it; here the test does) comes back rendered.
    for role, text in (("user", "tell me a story"), ("assistant", "Once upon **a time**.")):
        said = ChatMessage(message_id=f"{request.run_id}-{role[0]}", thread_id=request.thread_id, role=role, text=text)
        await nc.request(subjects.CONVERSATION_APPEND, encode(said), timeout=5)
    await page.reload()
    await expect(page.locator(".msg.assistant .text strong")).to_have_text(["a time"])
    await expect(page.locator(".msg.user")).to_have_text(["tell me a story"])
    assert page.dialogs == []


async def test_the_model_picker_offers_the_workers_models_and_sends_the_choice(
    gateway_url: str, nc: Client, browser: Browser
) -> None:
    from nats.micro import add_service
    from nats.micro.service import ServiceConfig

    metadata = {"backend": "ollama", "model": "qwen3:4b"}
    worker = await add_service(nc, ServiceConfig(name=subjects.WORKER_SERVICE, version="0.1.0", metadata=metadata))
    try:
        js = nc.jetstream()
        queue = await js.pull_subscribe(
            subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM
        )
        page = await open_page(browser, gateway_url)
        await expect(page.locator("#chat-model option")).to_have_text(["default model", "qwen3:4b"])
        await page.select_option("#chat-model", "qwen3:4b")
        await page.fill("#chat-input", "hello")
        await page.press("#chat-input", "Enter")
        request = decode(RunRequest, (await queue.fetch(1, timeout=5))[0].data)
        assert request.model == "qwen3:4b"
        await page.reload()
        await expect(page.locator("#chat-model")).to_have_value("qwen3:4b")
    finally:
        await worker.stop()


async def test_a_gateway_restart_loses_no_change(
    nats_server: NatsServer, crud: object, nc: Client, browser: Browser
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with gateway_on(port, nats_server):
        page = await open_page(browser, url)
        await api(url, {"op": "create", "name": "before"})
        await expect(page.locator("#tasks .task .name")).to_have_text(["before"])
    await expect(page.locator("#ws-status")).not_to_have_attribute("data-state", "open")
    # Changes made while no gateway runs (crud still takes commands) reach the page once one is back.
    for name in ("during one", "during two"):
        request = CommandRequest(command_id=uuid.uuid4().hex, actor=PERSON, command=TaskCreate(name=name))
        await nc.request(subjects.crud_command(subjects.TASK_ENTITY, "create"), encode(request), timeout=5)
    async with gateway_on(port, nats_server):
        await expect(page.locator("#tasks .task .name")).to_have_text(
            ["before", "during one", "during two"], timeout=20_000
        )
        await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")
        await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open", timeout=20_000)
        assert json.loads(await page.evaluate("JSON.stringify(window.ghostbus.seen)")) == [1, 2, 3]
        assert page.dialogs == []


@contextlib.asynccontextmanager
async def gateway_on(port: int, nats_server: NatsServer) -> AsyncIterator[None]:
    """A gateway on a given port (so a page can find it again after a restart), stopped on exit."""
    server = create_server(Settings(NATS_URL=nats_server.url), host="127.0.0.1", port=port, log_level="warning")
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def test_the_event_stream_comes_back_after_the_gateway_refused_it(gateway_url: str, browser: Browser) -> None:
    page = await open_page(browser, gateway_url)
    # A gateway that cannot reach NATS answers /events with 503, and EventSource then gives up for good.
    await page.route("**/events*", lambda route: route.fulfill(status=503, body="not now"))
    await page.evaluate("window.ghostbus.source.close(); window.ghostbus.connectEvents()")
    await expect(page.locator("#sse-status")).to_have_attribute("data-state", "closed")
    await api(gateway_url, {"op": "create", "name": "while refused"})
    await page.unroute("**/events*")
    await expect(page.locator("#tasks .task .name")).to_have_text(["while refused"], timeout=10_000)
    await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")


async def test_markup_from_the_person_the_model_and_notices_shows_as_text(
    gateway_url: str, nc: Client, browser: Browser
) -> None:
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    page = await open_page(browser, gateway_url)
    typed = "<img src=p onerror=alert(7)> & <b>bold?</b>"
    await page.fill("#chat-input", typed)
    await page.press("#chat-input", "Enter")
    await expect(page.locator(".msg.user")).to_have_text([typed])
    msg = (await queue.fetch(1, timeout=5))[0]
    request = decode(RunRequest, msg.data)
    tool = "<img src=a onerror=alert(8)>"
    target = "<script>alert(9)</script>"
    failure = "<img src=b onerror=alert(10)>"
    result = {"command_id": "c1", "ok": False, "error": {"code": "invalid", "message": failure}}
    events = [
        RunStartedEvent(thread_id=request.thread_id, run_id=request.run_id),
        ToolCallStartEvent(tool_call_id="c1", tool_call_name=tool),
        ToolCallArgsEvent(tool_call_id="c1", delta=json.dumps({"op": "create", "name": target})),
        ToolCallEndEvent(tool_call_id="c1"),
        ToolCallResultEvent(message_id="r1", tool_call_id="c1", content=json.dumps(result)),
        RunErrorEvent(message='<svg onload=alert(11)> "model" failed'),
    ]
    run = RunEvents(js, request.run_id)
    for event in events:
        await run.publish(event)
    await msg.ack()
    await nc.publish(subjects.UI_NOTIFY, encode(Notice(event_id="n1", text="<img src=t onerror=alert(12)> toast")))
    chip = page.locator(".msg.assistant .chip")
    await expect(chip).to_have_text(f"✗ {tool} {target}")
    await expect(chip).to_have_attribute("data-state", "failed")
    await expect(chip).to_have_attribute("title", failure)
    await expect(page.locator(".msg.assistant .meta")).to_have_text('<svg onload=alert(11)> "model" failed')
    await expect(page.locator(".toast")).to_have_text("<img src=t onerror=alert(12)> toast")
    markup = page.locator("#messages img, #messages svg, #messages script, #messages b, #toasts img")
    assert await markup.count() == 0
    assert page.dialogs == []


async def test_a_page_whose_cursor_is_gone_gets_the_whole_list(
    quick_stream_checks: None, gateway_url: str, nc: Client, browser: Browser
) -> None:
    from proto.streams import create_streams

    await api(gateway_url, {"op": "create", "name": "apples"})
    page = await open_page(browser, gateway_url)
    await expect(page.locator("#tasks .task .name")).to_have_text(["apples"])
    # nats-server lost its store: the events the page's cursor points into are gone.
    js = nc.jetstream()
    await js.delete_stream(subjects.UI_STREAM)
    await create_streams(js)
    await api(gateway_url, {"op": "create", "name": "bread"})
    await expect(page.locator("#tasks .task .name")).to_have_text(["apples", "bread"], timeout=15_000)
    await api(gateway_url, {"op": "toggle", "name": "apples"})
    await expect(page.locator("#tasks .task.done .name")).to_have_text(["apples"])
    assert page.dialogs == []


async def test_a_click_on_an_item_changed_elsewhere_is_refused_and_the_item_catches_up(
    gateway_url: str, browser: Browser
) -> None:
    await api(gateway_url, {"op": "create", "name": "apples"})
    stale = await open_page(browser, gateway_url)
    await expect(stale.locator("#tasks .task .name")).to_have_text(["apples"])
    # This tab stops hearing changes (a dropped connection) while another marks the task done.
    await stale.evaluate("window.ghostbus.source.close()")
    await api(gateway_url, {"op": "set_done", "name": "apples"})
    await stale.locator("#tasks .task .toggle").click()  # meant: done; a blind toggle would undo it
    await expect(stale.locator("#form-error")).to_have_text(
        "“apples” changed since version 1: it is now “apples”, done, version 2."
    )
    await stale.locator("#tasks .task .name").dblclick()
    await stale.fill("#tasks .task .rename", "green apples")
    await stale.press("#tasks .task .rename", "Enter")
    await expect(stale.locator("#form-error")).to_contain_text("changed since version 1")
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        listed = (await client.get("/api/tasks")).json()
    assert [(t["name"], t["done"], t["version"]) for t in listed] == [("apples", True, 2)]
    await stale.evaluate("window.ghostbus.connectEvents()")
    await expect(stale.locator("#tasks .task.done .name")).to_have_text(["apples"])
    await stale.locator("#tasks .task .toggle").click()  # now on the version it shows: it goes through
    await expect(stale.locator("#tasks .task.done")).to_have_count(0)
    await expect(stale.locator("#form-error")).to_be_hidden()


async def test_the_page_scripts_are_modules_that_leave_one_debugging_name_on_window(
    gateway_url: str, browser: Browser
) -> None:
    page = await open_page(browser, gateway_url)
    plain = await browser.new_page()
    await plain.goto(gateway_url + "/healthz")  # the same origin, no scripts
    names = "JSON.stringify(Object.getOwnPropertyNames(window))"
    added = set(json.loads(await page.evaluate(names))) - set(json.loads(await plain.evaluate(names)))
    # SortableJS's browser build defines `Sortable`; the page's own modules share nothing through window.
    assert added == {"ghostbus", "Sortable"}


async def test_a_reloaded_page_shows_the_conversation_since_the_last_reset_without_its_marks(
    gateway_url: str, nc: Client, browser: Browser
) -> None:
    page = await open_page(browser, gateway_url)
    thread_id = await page.evaluate("localStorage.getItem('ghostbus-thread')")
    # What the worker keeps of "forget this", then !reset, then !model qwen3:4b.
    entries = [
        ("user", "message", "forget this"),
        ("assistant", "message", "Forgotten soon."),
        ("user", "message", "!reset"),
        ("assistant", "reset", ""),
        ("user", "message", "!model qwen3:4b"),
        ("assistant", "model", "qwen3:4b"),
        ("assistant", "message", "From now on this conversation uses qwen3:4b."),
    ]
    for n, (role, kind, text) in enumerate(entries):
        entry = ChatMessage(message_id=f"e{n}", thread_id=thread_id, role=role, kind=kind, text=text)
        await nc.request(subjects.CONVERSATION_APPEND, encode(entry), timeout=5)
    await page.reload()
    await expect(page.locator(".msg.user")).to_have_text(["!model qwen3:4b"])
    await expect(page.locator(".msg.assistant .text")).to_have_text(["From now on this conversation uses qwen3:4b."])
    assert page.dialogs == []


async def test_command_chips_say_what_happened_in_words(gateway_url: str, nc: Client, browser: Browser) -> None:
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    page = await open_page(browser, gateway_url)
    await page.fill("#chat-input", "tidy up my list")
    await page.press("#chat-input", "Enter")
    msg = (await queue.fetch(1, timeout=5))[0]
    request = decode(RunRequest, msg.data)
    milk = {"id": 2, "name": "milk", "done": True, "position": 0}
    calls = [  # (arguments, the result crud gave)
        ({"op": "toggle", "id": 2}, {"ok": True, "task": milk}),
        ({"op": "move", "name": "eggs", "position": 0}, {"ok": True, "task": milk | {"id": 3, "name": "eggs"}}),
        ({"op": "rename", "name": "bread", "new_name": "rye bread"}, {"ok": True}),
        ({"op": "set_done", "name": "milk", "done": False}, {"ok": True, "task": milk | {"done": False}}),
        ({"op": "clear_completed"}, {"ok": True}),
        ({"op": "delete", "name": "jam"}, {"ok": False, "error": {"code": "not_found", "message": "No “jam”."}}),
    ]
    events: list[object] = [RunStartedEvent(thread_id=request.thread_id, run_id=request.run_id)]
    for n, (args, result) in enumerate(calls):
        call_id = f"{request.run_id}-1-{n}"
        events += [
            ToolCallStartEvent(tool_call_id=call_id, tool_call_name=str(args["op"])),
            ToolCallArgsEvent(tool_call_id=call_id, delta=json.dumps(args)),
            ToolCallEndEvent(tool_call_id=call_id),
            ToolCallResultEvent(
                message_id=f"r{n}", tool_call_id=call_id, content=json.dumps({"command_id": call_id} | result)
            ),
        ]
    run = RunEvents(js, request.run_id)
    for event in events:
        await run.publish(event)
    await msg.ack()
    chips = page.locator(".msg.assistant .chip")
    await expect(chips).to_have_text(
        [
            "✓ done: milk Undo",
            "✓ moved: eggs → 1st Undo",
            "✓ renamed: bread → rye bread Undo",
            "✓ not done: milk Undo",
            "✓ cleared the done tasks Undo",
            "✗ not removed: jam",
        ]
    )
