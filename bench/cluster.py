"""`python -m bench.cluster`: the three-node cluster against one nats-server. The added latency per token
(scripted backend, each token its own emit time) on each, and on the cluster what a node's loss costs: the
stream's leader election, and the pause from the SIGKILL until tokens reach the person again."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from bench.common import chat, in_scratch, machine_load, save, summary_ms
from proto import subjects
from tests.cluster.harness import ClusterStack
from tests.support.cluster import STREAM_NAMES, Admin, Node
from tests.support.stack import Stack

RATE = 50.0  # tokens per second, as a fast local model
TOKENS = 200
RUNS = 5
KILLS = 3  # of each kind
LONG = 600  # tokens of an answer a node dies in (12 s at RATE)
KILL_AFTER = 40  # tokens already shown when the node dies
SCRIPTED = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_RATE": str(RATE)}


@dataclass
class Watched:
    """One answer as the page shows it (rebuilt from each RUN_STARTED), with each token's arrival."""

    arrivals: list[float] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    replays: int = 0
    finished: bool = False


async def watch(url: str, answer: Watched, started: asyncio.Event) -> None:
    async with websockets.connect(url.replace("http://", "ws://") + "/ws", max_size=None) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "go"}))
        async with asyncio.timeout(120):
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "RUN_STARTED":
                    answer.replays += bool(answer.shown)
                    answer.shown = []
                elif kind == "TEXT_MESSAGE_CONTENT":
                    answer.arrivals.append(time.monotonic())
                    answer.shown.append(message["delta"])
                    if len(answer.shown) >= KILL_AFTER:
                        started.set()
                elif kind in ("RUN_FINISHED", "RUN_ERROR", "error"):
                    answer.finished = kind == "RUN_FINISHED"
                    return


async def latencies(stack: Stack) -> dict[str, Any]:
    measured: list[float] = []
    await chat(stack.url, "warm up")
    for _ in range(RUNS):
        trace = await chat(stack.url, "go")
        assert trace.finished is not None and len(trace.arrivals) == TOKENS, trace.error
        measured += trace.latencies
    return summary_ms(measured)


async def node_loss(stack: ClusterStack, admin: Admin, pick: str) -> dict[str, Any]:
    """One answer of LONG tokens; once KILL_AFTER are shown, SIGKILL a node (`leader`: the run events'
    stream leader; `worker`: the node the answering worker is on), start it again, wait until it caught up."""
    assert stack.cluster is not None
    answer, started = Watched(), asyncio.Event()
    talking = asyncio.create_task(watch(stack.url, answer, started))
    await asyncio.wait_for(started.wait(), 60)
    if pick == "leader":
        leader = await admin.leader(subjects.RUN_EVENTS_STREAM)
        assert leader is not None
        node: Node = stack.cluster.node(leader)
    else:
        node = await asyncio.to_thread(stack.cluster.serving, "llm_worker")
    was_leader = await admin.leader(subjects.RUN_EVENTS_STREAM) == node.name
    killed = time.monotonic()
    node.kill()
    election = None
    if was_leader:
        _, election = await admin.new_leader(subjects.RUN_EVENTS_STREAM, node.name)
    await talking
    await asyncio.to_thread(stack.cluster.restart, node)
    for stream in STREAM_NAMES:
        await admin.caught_up(stream, node.name, timeout=60)
    after = [t for t in answer.arrivals if t > killed]
    return {
        "election_ms": None if election is None else round(election * 1000),
        "pause_ms": round((after[0] - killed) * 1000) if after else None,
        "shown_whole": answer.finished and len(answer.shown) == LONG and len(set(answer.shown)) == LONG,
        "replays": answer.replays,
    }


async def measure(base: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"machine_at_start": machine_load(), "rate_tok_s": RATE, "tokens": TOKENS * RUNS}
    single = Stack(base / "single", env=SCRIPTED | {"LLM_SCRIPT_TOKENS": str(TOKENS)})
    single.start(workers=1)
    try:
        figures["single_node"] = await latencies(single)
    finally:
        single.stop()
    cluster = ClusterStack(base / "cluster", env=SCRIPTED | {"LLM_SCRIPT_TOKENS": str(TOKENS)})
    await asyncio.to_thread(cluster.up, 1)
    try:
        figures["cluster"] = await latencies(cluster)
    finally:
        await asyncio.to_thread(cluster.stop)
    lossy = ClusterStack(base / "loss", env=SCRIPTED | {"LLM_SCRIPT_TOKENS": str(LONG)})
    await asyncio.to_thread(lossy.up, 1)
    assert lossy.cluster is not None
    kills: dict[str, list[dict[str, Any]]] = {"leader": [], "worker": []}
    try:
        async with Admin(lossy.cluster) as admin:
            for _ in range(KILLS):
                for pick in kills:
                    kills[pick].append(await node_loss(lossy, admin, pick))
    finally:
        await asyncio.to_thread(lossy.stop)
    figures["kills"] = kills
    elections = [k["election_ms"] for k in kills["leader"] if k["election_ms"] is not None]
    pauses = [k["pause_ms"] for ks in kills.values() for k in ks if k["pause_ms"] is not None]
    figures["node_loss"] = {
        "election_ms_median": statistics.median(elections) if elections else None,
        "election_ms_max": max(elections, default=None),
        "pause_ms_median": statistics.median(pauses) if pauses else None,
        "pause_ms_max": max(pauses, default=None),
        "answers_shown_whole": sum(k["shown_whole"] for ks in kills.values() for k in ks),
        "answers": sum(len(ks) for ks in kills.values()),
    }
    save("cluster", figures)
    return figures


def run() -> dict[str, Any]:
    return in_scratch(measure)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
