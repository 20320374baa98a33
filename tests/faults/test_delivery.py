"""What browsers are sent, under load and when they fall behind: a page reloaded mid-answer gets the
run replayed exactly, a tab reconnecting gets exactly what it missed, a tab that stops reading is
dropped and catches up by replay, and 200 chats at once each get every token of their own answer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.faults.clients import Conversation, Stalled, Tab, converged, names
from tests.faults.harness import running
from tests.faults.ollama import Asked, Step, command

pytestmark = [pytest.mark.faults, pytest.mark.slow]


async def test_a_reloaded_page_gets_the_run_and_the_list_replayed_exactly(tmp_path: Path) -> None:
    words = [f"w{n} " for n in range(40)] + ["again ", "again ", "done."]

    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), command("create", name="bread"), *words]

    async with running(tmp_path, answer, delay_s=0.03, workers=1) as (stack, fake):
        live = Tab(stack.url).open()
        chat = Conversation(stack.url, "add apples and bread")
        talking = asyncio.create_task(chat.run())
        await asyncio.wait_for(chat.texting.wait(), 30)
        # A reload mid-answer: the page asks for the run again and rebuilds it from its first event.
        assert chat.run_id is not None
        reloaded = Conversation(stack.url, "", run_id=chat.run_id)
        await asyncio.wait_for(reloaded.run(), 60)
        await talking
        later = Conversation(stack.url, "", run_id=chat.run_id)  # and once it is over
        await asyncio.wait_for(later.run(), 30)
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED"
        assert reloaded.frames == chat.frames == later.frames
        assert chat.reply.split() == "".join(words).split()

        await converged([live], stack.url)
        last = live.ids[-1]
        assert last >= 2
        # A tab that saw the first event only reconnects with its id and gets exactly the rest, as sent live.
        behind = Tab(stack.url)
        behind.apply({"id": "1", "event": "task", "data": live.seen[1]})
        behind.open()
        await converged([live, behind], stack.url)
        assert behind.ids == list(range(1, last + 1)) and behind.resets == 0
        assert {i: behind.seen[i] for i in behind.ids[1:]} == {i: live.seen[i] for i in range(2, last + 1)}
        for tab in (live, behind):
            await tab.close()


async def dropped(url: str) -> int:
    async with httpx.AsyncClient(base_url=url) as client:
        text = (await client.get("/metrics")).text
    # prometheus-client writes a counter as a float ("1.0").
    found = re.search(r"^ghostbus_gateway_sse_clients_dropped_total (\S+)$", text, re.MULTILINE)
    assert found, text
    return int(float(found.group(1)))


async def test_a_tab_that_stops_reading_is_dropped_and_catches_up_by_replay(tmp_path: Path) -> None:
    async with running(tmp_path, lambda asked: ["Hello."], workers=1, gateway_env={"GATEWAY_SSE_QUEUE": "20"}) as (
        stack,
        fake,
    ):
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            for n in range(100):
                name = f"{n:03} " + "x" * 190  # long names: big events fill the socket sooner
                assert (await client.post("/api/tasks", json={"name": name})).status_code == 201
            stalled = await Stalled.open(stack.url)
            order = [t["id"] for t in (await client.get("/api/tasks")).json()]
            reorders = 0
            while await dropped(stack.url) == 0:
                assert reorders < 80, "the stalled tab was never dropped"
                order.reverse()  # every task moves: one event each
                response = await client.post("/api/commands", json={"command": {"op": "reorder", "order": order}})
                assert response.status_code == 200, response.text
                reorders += 1
        # What it had been sent is a prefix of the events, in order, and then the stream ended.
        catching_up = Tab(stack.url)
        await stalled.read_to_end(catching_up)
        got = list(catching_up.ids)
        assert len(got) < 100 * (1 + reorders)
        if not catching_up.resets:  # (see converged)
            assert got == list(range(1, len(got) + 1))
        # It reconnects with its last id and gets exactly the rest.
        catching_up.open()
        truth = await converged([catching_up], stack.url, timeout=60)
        assert catching_up.ids == list(range(1, 100 * (1 + reorders) + 1)) and catching_up.resets == 0
        assert len(truth) == 100
        await catching_up.close()


@pytest.mark.slow
async def test_two_hundred_chats_at_once_each_get_every_token_of_their_answer(tmp_path: Path) -> None:
    def answer(asked: Asked) -> list[Step]:
        n = asked.text.rsplit(" ", 1)[-1]
        return [command("create", name=f"item {n}"), *[f"t{n}.{k} " for k in range(20)], "the ", "the ", f"end{n}."]

    env = {"LLM_CAPACITY": "100"}
    # 200 chats from one address: above the per-person chat limit a real person is held to.
    limit = {"GATEWAY_CHAT_PER_MINUTE": "1000"}
    async with running(tmp_path, answer, workers=2, worker_env=env, gateway_env=limit) as (stack, fake):
        tab = Tab(stack.url).open()
        chats = [Conversation(stack.url, f"add item {n}") for n in range(200)]
        await asyncio.gather(*(chat.run(timeout=180) for chat in chats))
        for n, chat in enumerate(chats):
            assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", (n, chat.end)
            expected = [f"t{n}.{k}" for k in range(20)] + ["the", "the", f"end{n}."]
            assert chat.reply.split() == expected, n
            assert [r["ok"] for r in chat.results] == [True], n
        listed = await names(stack.url)
        assert sorted(listed) == sorted(f"item {n}" for n in range(200))
        await converged([tab], stack.url, timeout=60)
        await tab.close()
