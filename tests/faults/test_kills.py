"""A process killed in the middle of a chat run: the run still ends for the person, every command it
gave is applied once, and every open tab ends up showing what /api/tasks says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.clients import Conversation, Tab, converged, healthy, names, until
from tests.faults.harness import kill_its_worker_after, running
from tests.faults.ollama import Asked, Gate, Step, command

pytestmark = [pytest.mark.faults, pytest.mark.slow]


async def test_a_worker_killed_mid_run_hands_it_on_and_each_command_runs_once(tmp_path: Path) -> None:
    never = asyncio.Event()

    def answer(asked: Asked) -> list[Step]:
        first = [command("create", name="apples")]
        if asked.attempt == 1:
            return [*first, Gate(never)]  # its worker dies here, after apples was added
        return [*first, command("create", name="bread"), command("create", name="eggs"), "Added ", "all ", "three."]

    async with running(tmp_path, answer) as (stack, fake):
        tabs = [Tab(stack.url).open() for _ in range(3)]
        chat = Conversation(stack.url, "add apples, bread and eggs")
        await kill_its_worker_after(stack, chat, ["apples"])
        assert chat.reply.strip() == "Added all three."
        assert [r["ok"] for r in chat.results] == [True, True, True]
        assert await names(stack.url) == ["apples", "bread", "eggs"]
        await converged(tabs, stack.url)
        assert [a.attempt for a in fake.asked] == [1, 2]
        for tab in tabs:
            await tab.close()


async def test_crud_killed_between_two_commands_comes_back_and_each_runs_once(tmp_path: Path) -> None:
    go_on = asyncio.Event()

    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), Gate(go_on), command("create", name="bread"), "Added ", "both."]

    async with running(tmp_path, answer) as (stack, fake):
        tabs = [Tab(stack.url).open() for _ in range(3)]
        chat = Conversation(stack.url, "add apples and bread")
        talking = asyncio.create_task(chat.run())

        async def apples_added() -> bool:
            return await names(stack.url) == ["apples"]

        await until(apples_added, "the first command applied")
        await asyncio.to_thread(stack.kill, "crud")
        await asyncio.to_thread(stack.restart, "crud")
        go_on.set()
        await talking
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        assert chat.reply.strip() == "Added both."
        assert [r["ok"] for r in chat.results] == [True, True]
        assert await names(stack.url) == ["apples", "bread"]
        await converged(tabs, stack.url)
        for tab in tabs:
            await tab.close()


async def test_the_gateway_killed_mid_answer_the_page_resumes_it_exactly(tmp_path: Path) -> None:
    words = [f"word{n} " for n in range(60)] + ["the ", "the ", "end."]  # a repeated token must show twice

    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), *words]

    async with running(tmp_path, answer, delay_s=0.05) as (stack, fake):
        tabs = [Tab(stack.url).open() for _ in range(3)]
        chat = Conversation(stack.url, "add apples and talk")
        talking = asyncio.create_task(chat.run())
        await asyncio.wait_for(chat.texting.wait(), 30)
        await asyncio.to_thread(stack.kill, "gateway")
        assert not talking.done(), "the answer was over before the gateway died"
        await asyncio.to_thread(stack.restart, "gateway")
        await talking
        assert chat.reconnects >= 1
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        assert chat.reply.strip() == "".join(words)
        assert await names(stack.url) == ["apples"]
        await converged(tabs, stack.url)
        assert all(tab.connections >= 2 for tab in tabs)
        for tab in tabs:
            await tab.close()


async def test_nats_server_killed_mid_run_and_restarted_loses_nothing(tmp_path: Path) -> None:
    go_on = asyncio.Event()
    before = [f"a{n} " for n in range(10)]
    after = [f"b{n} " for n in range(10)]

    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), *before, Gate(go_on), command("create", name="bread"), *after]

    async with running(tmp_path, answer) as (stack, fake):
        tabs = [Tab(stack.url).open() for _ in range(3)]
        chat = Conversation(stack.url, "add apples and bread")
        talking = asyncio.create_task(chat.run())

        async def halfway() -> bool:
            return await names(stack.url) == ["apples"] and chat.reply.split() == "".join(before).split()

        await until(halfway, "the first command applied and the first words shown")
        await asyncio.to_thread(stack.kill_nats)
        await asyncio.to_thread(stack.start_nats)

        async def everyone_back() -> bool:
            # The gateway answers /healthz only with NATS and crud there; the workers say so in their log.
            reconnected = all(stack.log_has(w, "NATS: reconnected") for w in ("llm_worker0", "llm_worker1"))
            return reconnected and await healthy(stack.url)

        await until(everyone_back, "every service reconnected")
        go_on.set()
        await talking
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        assert chat.reply.split() == "".join(before + after).split()  # a command line leaves a line break
        assert [r["ok"] for r in chat.results] == [True, True]
        assert await names(stack.url) == ["apples", "bread"]
        await converged(tabs, stack.url)
        for tab in tabs:
            await tab.close()
