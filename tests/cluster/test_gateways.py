"""Two gateways on the cluster: every browser sees the same events under the same ids whichever gateway it
follows, a tab that moves to the other gateway gets exactly what it missed, and an answer started through
one gateway is resumed exactly through the other (a load balancer moved the person)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cluster.harness import running
from tests.faults.clients import Conversation, Tab, converged, names, until
from tests.faults.ollama import Asked, Step, command

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


async def test_both_gateways_relay_every_event_with_the_same_ids_and_a_tab_moves_between_them(
    tmp_path: Path,
) -> None:
    def answer(asked: Asked) -> list[Step]:
        what = asked.text.split()[-1]
        return [command("create", name=f"{what} {n}") for n in range(4)] + ["Done."]

    async with running(tmp_path, answer) as (stack, fake):
        one, two = stack.urls
        tabs = [Tab(one).open(), Tab(two).open()]
        mover = Tab(one).open()
        first = await Conversation(one, "add apples").run()
        assert first.end is not None and first.end["type"] == "RUN_FINISHED", first.end

        async def mover_has_them() -> bool:
            return len(mover.shown) == 4

        await until(mover_has_them, "the moving tab showed the first four tasks")
        await mover.close()  # its gateway is gone for it (a load balancer sends it to the other one)
        second = await Conversation(two, "add pears").run()  # meanwhile: what it must catch up on
        assert second.end is not None and second.end["type"] == "RUN_FINISHED", second.end
        mover.url = two
        mover.open()  # reconnects with Last-Event-ID: the last id it saw, from the first gateway
        truth = await converged([*tabs, mover], one)
        assert sorted(name for name, _, _ in truth.values()) == sorted(
            [f"apples {n}" for n in range(4)] + [f"pears {n}" for n in range(4)]
        )
        assert await names(two) == await names(one)
        # The same event under the same id through either gateway, and the moved tab has each once.
        assert tabs[0].seen == tabs[1].seen
        assert mover.seen == tabs[0].seen
        assert mover.connections == 2
        for tab in [*tabs, mover]:
            await tab.close()


async def test_an_answer_started_through_one_gateway_is_resumed_exactly_through_the_other(tmp_path: Path) -> None:
    words = [f"word{n} " for n in range(60)] + ["the ", "the ", "end."]

    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), *words]

    async with running(tmp_path, answer, delay_s=0.05) as (stack, fake):
        one, two = stack.urls
        chat = Conversation(one, "add apples and talk")
        talking = asyncio.create_task(chat.run())
        await asyncio.wait_for(chat.texting.wait(), 30)
        talking.cancel()  # the socket to the first gateway is gone mid-answer
        with pytest.raises(asyncio.CancelledError):
            await talking
        assert chat.end is None and chat.run_id is not None, "the answer was over before the move"
        chat.url = two
        await chat.run()  # {"type": "resume"} through the second gateway
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        assert chat.reply.strip() == "".join(words)
        assert [r["ok"] for r in chat.results] == [True]
        assert await names(one) == await names(two) == ["apples"]
        assert [a.attempt for a in fake.asked] == [1]
