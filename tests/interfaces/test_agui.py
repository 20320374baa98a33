"""`POST /agui` against the whole stack: ag-ui-validate reads real runs (plain, with commands, stopped,
redelivered), and what the AG-UI client sees is what the page would show."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.interfaces.conftest import Validated, run_input, stack_with, until, validated
from tests.support.stack import Stack

pytestmark = pytest.mark.slow


async def test_a_run_with_a_command_is_valid_ag_ui_and_changes_the_list(
    scripted: Stack, http: httpx.AsyncClient
) -> None:
    run = await validated(scripted.url, run_input("add something", "agui-commands"))
    print(run.text())
    assert run.report is not None and run.report.summary.errors == 0 and run.report.summary.warnings == 0, run.text()
    types = run.types()
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    assert run.events[0]["protocolVersion"] == "1.0" and run.events[0]["runId"] == "agui-commands"
    assert "TOOL_CALL_START" in types and "TOOL_CALL_RESULT" in types
    assert any(e["type"] == "CUSTOM" and e["name"] == "ghostbus.rendered" for e in run.events)
    created = [t["name"] for t in (await http.get("/api/tasks")).json()]
    assert any(name.startswith("cmd ") for name in created)


SLOW = {
    "LLM_BACKEND": "scripted",
    "LLM_SCRIPT_TOKENS": "40",
    "LLM_SCRIPT_RATE": "10",  # 4 s of answer: time to stop it, or to kill its worker, halfway
    "LLM_SCRIPT_COMMANDS": "0",
    "LLM_CAPACITY": "1",
    "LLM_ACK_WAIT_S": "2",
}


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from stack_with(tmp_path_factory.mktemp("slow"), SLOW, workers=2)


def clean(run: Validated) -> None:
    print(run.text())
    assert run.report is not None, "the validator did not run"
    assert run.report.summary.errors == 0 and run.report.summary.warnings == 0, run.text()


async def test_a_plain_run_is_valid_ag_ui(slow: Stack) -> None:
    run = await validated(slow.url, run_input("hello", "agui-plain"))
    clean(run)
    types = run.types()
    assert types[-1] == "RUN_FINISHED" and "outcome" not in run.events[-1]
    assert types.count("TEXT_MESSAGE_CONTENT") == 40 and "TOOL_CALL_START" not in types


async def test_a_stopped_run_ends_with_the_cancelled_outcome(slow: Stack) -> None:
    async def stop_midway(run: Validated) -> None:
        await until(lambda: "TEXT_MESSAGE_CONTENT" in run.types(), "the first words")
        async with httpx.AsyncClient(base_url=slow.url) as http:
            assert (await http.post("/api/runs/agui-stopped/cancel")).status_code == 202

    run = await validated(slow.url, run_input("tell me a story", "agui-stopped"), during=stop_midway)
    clean(run)
    assert run.events[-1]["type"] == "RUN_FINISHED" and run.events[-1]["outcome"] == {"type": "cancelled"}


async def test_a_run_stopped_before_any_worker_took_it_starts_and_ends_cancelled(slow: Stack) -> None:
    async with httpx.AsyncClient(base_url=slow.url, timeout=30) as http:
        # Both workers busy (one run each), so the next run waits in the queue when it is stopped.
        busy = [
            asyncio.create_task(validated(slow.url, run_input("keep busy", f"agui-busy-{n}", thread_id=f"b{n}")))
            for n in range(2)
        ]
        await asyncio.sleep(1.0)

        async def stop_at_once(run: Validated) -> None:
            await until(lambda: bool(run.events), "RUN_STARTED")
            assert (await http.post("/api/runs/agui-queued/cancel")).status_code == 202

        run = await validated(slow.url, run_input("never mind", "agui-queued"), during=stop_at_once)
        for task in busy:
            await task
    clean(run)
    assert run.types()[0] == "RUN_STARTED" and "TEXT_MESSAGE_START" not in run.types()
    assert run.events[-1]["outcome"] == {"type": "cancelled"}


async def test_a_redelivered_run_is_one_valid_run_with_distinct_ids(slow: Stack) -> None:
    async def kill_its_worker(run: Validated) -> None:
        await until(lambda: run.types().count("TEXT_MESSAGE_CONTENT") >= 3, "the first words")
        holder = next(s for s in slow.services if s.name.startswith("llm_worker") and "agui-redelivered" in s.output())
        holder.stop(signal.SIGKILL)

    run = await validated(slow.url, run_input("a long answer", "agui-redelivered"), during=kill_its_worker)
    clean(run)
    types = run.types()
    assert types.count("RUN_STARTED") == 1 and types[-1] == "RUN_FINISHED"
    restarts = [e for e in run.events if e["type"] == "CUSTOM" and e["name"] == "ghostbus.restarted"]
    assert restarts, "the second attempt was not announced"
    starts = [e["messageId"] for e in run.events if e["type"] == "TEXT_MESSAGE_START"]
    assert len(starts) == 2 and len(set(starts)) == 2


async def test_a_malformed_run_input_is_refused_with_the_reason(scripted: Stack, http: httpx.AsyncClient) -> None:
    missing = await http.post("/agui", json={"threadId": "t"})
    assert missing.status_code == 422 and "runId" in missing.json()["error"]
    no_user = await http.post("/agui", json=run_input("x", "r1") | {"messages": []})
    assert no_user.status_code == 422 and "user message" in no_user.json()["error"]
    bad_id = await http.post("/agui", json=run_input("x", "not a/run id"))
    assert bad_id.status_code == 422 and "runId" in bad_id.json()["error"]
    not_json = await http.post("/agui", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
