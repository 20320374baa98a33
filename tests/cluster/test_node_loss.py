"""A nats-server of the cluster killed (SIGKILL) in the middle of things: the answer finishes with every
token once, each command is applied once, both gateways' event streams and lists agree, and the node
started again rejoins and catches up. The node killed is the leader of the run events' stream, the leader
of the UI stream while crud's outbox is publishing a burst, and the node the gateways' browsers read from."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from proto import subjects
from tests.cluster.harness import ClusterStack, running
from tests.faults.clients import Conversation, Tab, converged, names, until
from tests.faults.ollama import Asked, Step, command
from tests.support.cluster import STREAM_NAMES, Admin, Node

pytestmark = [pytest.mark.cluster, pytest.mark.faults, pytest.mark.slow]

WORDS = [f"w{n} " for n in range(200)] + ["the ", "the ", "end."]  # a repeated token must show twice
DELAY_S = 0.05  # 20 tokens/s: the answer is still coming for 10 s after the kill
PAUSE_LIMIT_S = 15.0  # a node's loss may pause the tokens (election, reconnect), not for longer than this


@dataclass
class Timed(Conversation):
    """A Conversation that notes when each piece of text arrived."""

    arrivals: list[float] = field(default_factory=list)

    def take(self, frame: dict[str, Any]) -> bool:
        if frame.get("type") == "TEXT_MESSAGE_CONTENT":
            self.arrivals.append(time.monotonic())
        return super().take(frame)

    def pause_after(self, moment: float) -> float:
        """From `moment` until the first text that arrived after it."""
        return min(t for t in self.arrivals if t > moment) - moment


async def kill_and_restart(
    stack: ClusterStack, node: Node, stream: str, under_way: asyncio.Task[Any]
) -> tuple[float, float]:
    """SIGKILL `node` while `under_way` is, wait for the stream's new leader, start the node again: (when it
    was killed, how long the election took)."""
    assert stack.cluster is not None
    async with Admin(stack.cluster) as admin:
        killed = time.monotonic()
        node.kill()
        assert not under_way.done(), "it was over before the node died"
        _, election = await admin.new_leader(stream, node.name)
        await asyncio.to_thread(stack.cluster.restart, node)
    return killed, election


async def everyone_agrees(stack: ClusterStack, tabs: list[Tab], restarted: Node) -> None:
    """Both gateways give the same list, every tab shows it with each event once, and the restarted node
    is a current replica of every stream again."""
    one, two = stack.urls
    assert await names(one) == await names(two)
    await converged(tabs, one)
    seen = [tab.seen for tab in tabs]
    assert all(s == seen[0] for s in seen), "the gateways relayed different events under the same ids"
    assert stack.cluster is not None
    async with Admin(stack.cluster) as admin:
        for stream in STREAM_NAMES:
            assert len(await admin.replicas(stream)) == 2, f"{stream} is not kept on three nodes"
            await admin.caught_up(stream, restarted.name)


async def test_the_run_events_leader_killed_mid_answer_the_answer_finishes_whole(tmp_path: Path) -> None:
    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), *WORDS[:100], command("create", name="bread"), *WORDS[100:]]

    async with running(tmp_path, answer, delay_s=DELAY_S) as (stack, fake):
        assert stack.cluster is not None
        tabs = [Tab(url).open() for url in stack.urls for _ in range(2)]
        chat = Timed(stack.urls[0], "add apples and bread and talk")
        talking = asyncio.create_task(chat.run())

        async def some_text() -> bool:
            return len(chat.arrivals) >= 10

        await until(some_text, "the first words shown")
        async with Admin(stack.cluster) as admin:
            leader = await admin.leader(subjects.RUN_EVENTS_STREAM)
        assert leader is not None
        node = stack.cluster.node(leader)
        killed, election = await kill_and_restart(stack, node, subjects.RUN_EVENTS_STREAM, talking)
        await talking
        pause = chat.pause_after(killed)
        print(f"\nrun events leader killed: election {election * 1000:.0f} ms, tokens paused {pause * 1000:.0f} ms")
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        missing = sorted(set("".join(WORDS).split()) - set(chat.reply.split()))
        assert chat.reply.split() == "".join(WORDS).split(), f"missing: {missing}"  # a command leaves a line break
        assert [r["ok"] for r in chat.results] == [True, True]
        assert await names(stack.urls[0]) == ["apples", "bread"]
        assert pause < PAUSE_LIMIT_S
        await everyone_agrees(stack, tabs, stack.cluster.node(leader))
        for tab in tabs:
            await tab.close()


async def test_the_ui_leader_killed_while_crud_publishes_a_burst_each_event_once(tmp_path: Path) -> None:
    burst = [f"task {n:02d}" for n in range(30)]

    def answer(asked: Asked) -> list[Step]:
        return [*(command("create", name=name) for name in burst), "Added them all."]

    async with running(tmp_path, answer) as (stack, fake):
        assert stack.cluster is not None
        tabs = [Tab(url).open() for url in stack.urls for _ in range(2)]
        async with Admin(stack.cluster) as admin:
            leader = await admin.leader(subjects.UI_STREAM)
        assert leader is not None
        chat = Conversation(stack.urls[1], "add thirty tasks")
        talking = asyncio.create_task(chat.run())

        async def publishing() -> bool:
            return len(tabs[0].shown) >= 3  # crud's outbox is publishing the burst's events

        await until(publishing, "the first events of the burst relayed")
        _, election = await kill_and_restart(stack, stack.cluster.node(leader), subjects.UI_STREAM, talking)
        print(f"\nUI leader killed mid-burst: election {election * 1000:.0f} ms")
        await talking
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        assert [r["ok"] for r in chat.results] == [True] * len(burst)
        assert await names(stack.urls[0]) == burst
        await everyone_agrees(stack, tabs, stack.cluster.node(leader))
        for tab in tabs:
            await tab.close()


async def test_the_node_the_answering_worker_is_on_killed_mid_answer_it_moves_and_loses_nothing(
    tmp_path: Path,
) -> None:
    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), *WORDS[:100], command("create", name="bread"), *WORDS[100:]]

    async with running(tmp_path, answer, delay_s=DELAY_S) as (stack, fake):
        assert stack.cluster is not None
        tabs = [Tab(url).open() for url in stack.urls for _ in range(2)]
        chat = Timed(stack.urls[0], "add apples and bread and talk")
        talking = asyncio.create_task(chat.run())

        async def some_text() -> bool:
            return len(chat.arrivals) >= 10

        await until(some_text, "the first words shown")
        assert chat.run_id is not None
        node = await asyncio.to_thread(stack.cluster.publishing, "llm_worker")  # the worker performing the run
        killed = time.monotonic()
        await asyncio.to_thread(node.kill)
        assert not talking.done(), "the answer was over before the node died"
        await asyncio.to_thread(stack.cluster.restart, node)
        await talking
        pause = chat.pause_after(killed)
        print(f"\nthe answering worker's node killed: tokens paused {pause * 1000:.0f} ms")
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        assert chat.reply.split() == "".join(WORDS).split()
        assert [r["ok"] for r in chat.results] == [True, True]
        assert await names(stack.urls[1]) == ["apples", "bread"]
        assert pause < PAUSE_LIMIT_S
        await everyone_agrees(stack, tabs, node)
        for tab in tabs:
            await tab.close()


async def test_a_chat_sent_while_the_queue_elects_its_leader_waits_for_it_and_is_answered(tmp_path: Path) -> None:
    def answer(asked: Asked) -> list[Step]:
        return [command("create", name="apples"), "Added."]

    async with running(tmp_path, answer) as (stack, fake):
        assert stack.cluster is not None
        async with Admin(stack.cluster) as admin:
            leader = await admin.leader(subjects.RUNS_STREAM)
            assert leader is not None
            node = stack.cluster.node(leader)
            killed = time.monotonic()
            node.kill()
            # At once, through the gateway that is not on the killed node if there is one: the queue has no
            # leader yet, so the run can be neither queued nor followed until the election ends.
            chat = await Conversation(stack.urls[0], "add apples").run()
            took = time.monotonic() - killed
            _, election = await admin.new_leader(subjects.RUNS_STREAM, node.name)
        print(f"\nchat sent as the queue's leader died: answered {took * 1000:.0f} ms after the kill")
        assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
        assert await names(stack.urls[1]) == ["apples"]
        assert [a.attempt for a in fake.asked] == [1]
        await asyncio.to_thread(stack.cluster.restart, node)
        await everyone_agrees(stack, [], node)
