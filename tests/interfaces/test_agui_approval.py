"""A command waiting for approval on /agui: an AG-UI interrupt for a client that declares the protocol version
(answered in the next run's `resume`), else a `ghostbus.confirmation` event answered over the JSON API. The
model is a stand-in Ollama (tests/support/fake_ollama.py) that asks to clear the completed tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.interfaces.conftest import Validated, run_input, until, validated
from tests.support.fake_ollama import FakeOllama, serving
from tests.support.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture
async def clearing(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    fake = FakeOllama(["Let me clear those."], calls=[("clear_completed", {})], followup=["All cleared."])
    async with serving(fake):
        worker = {"LLM_BACKEND": "ollama", "OLLAMA_HOST": fake.url, "OLLAMA_MODEL": "llama3.2", "LLM_STRATEGY": "tools"}
        stack = Stack(tmp_path_factory.mktemp("clearing"))
        try:
            await asyncio.to_thread(stack.start, 1, worker)
            async with httpx.AsyncClient(base_url=stack.url) as http:
                for name in ("milk", "eggs", "bread"):
                    made = (await http.post("/api/tasks", json={"name": name})).json()
                    if name != "bread":
                        await http.post("/api/commands", json={"command": {"op": "set_done", "id": made["id"]}})
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)


def clean(run: Validated) -> None:
    print(run.text())
    assert run.report is not None and run.report.summary.errors == 0 and run.report.summary.warnings == 0, run.text()


async def names(url: str) -> list[str]:
    async with httpx.AsyncClient(base_url=url) as http:
        return [t["name"] for t in (await http.get("/api/tasks")).json()]


def history(first: Validated, text: str) -> list[dict[str, Any]]:
    """The conversation as an AG-UI client holds it after the interrupted run: the user's message, the
    assistant's words and its tool call."""
    said = "".join(e["delta"] for e in first.events if e["type"] == "TEXT_MESSAGE_CONTENT")
    start = next(e for e in first.events if e["type"] == "TOOL_CALL_START")
    args = "".join(e["delta"] for e in first.events if e["type"] == "TOOL_CALL_ARGS")
    call = {
        "id": start["toolCallId"],
        "type": "function",
        "function": {"name": start["toolCallName"], "arguments": args},
    }
    message_id = start.get("parentMessageId") or "assistant-1"
    return [
        {"id": "u1", "role": "user", "content": text},
        {"id": message_id, "role": "assistant", "content": said, "toolCalls": [call]},
    ]


async def test_an_approval_is_an_interrupt_and_the_resumed_run_carries_it_out(clearing: Stack) -> None:
    text = "clear the finished ones"
    first = await validated(clearing.url, run_input(text, "agui-asks", protocolVersion="1.0"))
    clean(first)
    end = first.events[-1]
    assert end["type"] == "RUN_FINISHED" and end["outcome"]["type"] == "interrupt", end
    (pause,) = end["outcome"]["interrupts"]
    assert pause["reason"] == "approval" and "milk" in pause["message"]
    assert await names(clearing.url) == ["milk", "eggs", "bread"], "nothing is cleared before the answer"

    answer = [{"interruptId": pause["id"], "status": "resolved", "payload": {"approve": True}}]
    given = run_input(text, "agui-answers", protocolVersion="1.0") | {
        "messages": history(first, text),
        "resume": answer,
    }
    second = await validated(clearing.url, given)
    clean(second)
    types = second.types()
    assert types[:2] == ["RUN_STARTED", "MESSAGES_SNAPSHOT"] and types[-1] == "RUN_FINISHED"
    result = next(e for e in second.events if e["type"] == "TOOL_CALL_RESULT")
    assert result["toolCallId"] == pause["toolCallId"] and '"ok":true' in result["content"]
    assert "All cleared." in "".join(e.get("delta", "") for e in second.events)
    assert await names(clearing.url) == ["bread"]


async def test_for_a_client_without_interrupts_the_question_is_an_event_answered_over_http(clearing: Stack) -> None:
    async def reject(run: Validated) -> None:
        await until(lambda: any(e.get("name") == "ghostbus.confirmation" for e in run.events), "the question")
        asked = next(e for e in run.events if e.get("name") == "ghostbus.confirmation")["value"]
        async with httpx.AsyncClient(base_url=clearing.url) as http:
            assert (await http.post(asked["answer"], json={"approve": False})).status_code == 200

    run = await validated(clearing.url, run_input("clear the finished ones", "agui-rest"), during=reject)
    clean(run)
    assert run.events[-1]["type"] == "RUN_FINISHED" and "outcome" not in run.events[-1]
    assert await names(clearing.url) == ["milk", "eggs", "bread"]


async def test_a_resume_of_an_unknown_interrupt_is_refused(clearing: Stack) -> None:
    given = run_input("x", "agui-bogus", protocolVersion="1.0") | {
        "resume": [{"interruptId": "nobody.nothing", "status": "resolved", "payload": {"approve": True}}]
    }
    async with httpx.AsyncClient(base_url=clearing.url) as http:
        refused = await http.post("/agui", json=given)
        vague = await http.post("/agui", json=given | {"resume": [{"interruptId": "a.b", "status": "resolved"}]})
    assert refused.status_code == 422 and "no such interrupt" in refused.json()["error"]
    assert vague.status_code == 422 and "approve" in vague.json()["error"]
