"""How a worker takes runs from the queue: a burst is taken in a few pulls, not one pull per run, each run once;
and a run that reaches the worker after its pull gave up is handed back, not left to go stale in the client."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from proto import subjects
from proto.codec import encode, unbundle
from proto.messages import RunRequest
from services.crud.service import Crud
from services.llm_worker import intake
from services.llm_worker.config import Settings
from services.llm_worker.worker import running
from tests.support.natsd import NatsServer

RUNS = 40


async def submit(nc: Client, text: str) -> str:
    run_id = uuid.uuid4().hex
    request = RunRequest(run_id=run_id, thread_id=f"t-{run_id}", text=text)
    await nc.jetstream().publish(subjects.CHAT_SUBMIT, encode(request), headers={"Nats-Msg-Id": run_id})
    return run_id


async def test_a_burst_of_runs_is_taken_in_a_few_pulls_and_each_run_once(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    pulls: list[Msg] = []
    seen: Counter[tuple[str, str]] = Counter()
    finished: set[str] = set()
    done = asyncio.Event()

    async def on_pull(msg: Msg) -> None:
        pulls.append(msg)

    async def on_event(msg: Msg) -> None:
        run_id = msg.subject.split(".")[2]  # chat.events.<run>.<attempt>.<index>
        for event in unbundle(msg.data):  # a worker with this many runs in hand sends several in one message
            kind = json.loads(event)["type"]
            seen[(run_id, kind)] += 1
            if kind == "RUN_FINISHED":
                finished.add(run_id)
                if len(finished) == RUNS:
                    done.set()

    await nc.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{subjects.RUNS_STREAM}.{subjects.RUNS_CONSUMER}", cb=on_pull)
    await nc.subscribe(subjects.RUN_EVENTS_ALL, cb=on_event)
    run_ids = [await submit(nc, f"go {n}") for n in range(RUNS)]
    settings = Settings(NATS_URL=nats_server.url, backend="scripted", script_tokens=5, script_rate=10, capacity=RUNS)
    async with running(settings):
        async with asyncio.timeout(60):
            await done.wait()
    assert finished == set(run_ids)
    assert all(seen[(run_id, "RUN_STARTED")] == 1 for run_id in run_ids), "a run was started twice"
    # The worker's own pulls (a long poll, then one for the rest); a pull per run would be 40 or more.
    assert len(pulls) < 10, f"{len(pulls)} pulls for {RUNS} runs"


async def test_a_run_that_arrives_after_its_pull_with_no_slot_free_goes_back_to_the_queue(nc: Client) -> None:
    js = nc.jetstream()
    config = ConsumerConfig(durable_name="intake_test", ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    sub = await js.pull_subscribe(
        subjects.CHAT_SUBMIT, durable="intake_test", stream=subjects.RUNS_STREAM, config=config
    )
    await submit(nc, "late")
    # A pull that gives up before the run reaches the client (it expires as it is sent) leaves the run queued
    # in the client, as a slow event loop would. What else such a pull leaves is dropped: the server's notice
    # that it expired (not a run), or the run itself when it came in time (handed back, to try again).
    queue = sub._sub._pending_queue
    straggler: Msg | None = None
    for _ in range(300):
        try:
            for msg in await sub.fetch(1, timeout=0.0002):
                await msg.nak()
        except Exception:  # noqa: BLE001 - nats-py's timeout: what this step is after
            pass
        while straggler is None and not queue.empty():
            queued = queue.get_nowait()
            if queued.headers and queued.headers.get("Status"):
                continue
            straggler = queued
            queue.put_nowait(queued)
        if straggler is not None:
            break
        await asyncio.sleep(0.01)
    assert straggler is not None, "could not leave a run in the client's queue"
    delivered = straggler.metadata.num_delivered
    slots = asyncio.Semaphore(1)
    await slots.acquire()  # no slot free
    waiting = asyncio.create_task(intake.slot(sub, slots))
    async with asyncio.timeout(5):
        while sub.pending_msgs:
            await asyncio.sleep(0.05)
    # Handed back: the server delivers it again (a second delivery), well within the 30 s ack wait.
    again = (await sub.fetch(1, timeout=5))[0]
    assert again.data == straggler.data and again.metadata.num_delivered == delivered + 1
    await again.ack()
    slots.release()
    async with asyncio.timeout(5):
        await waiting


async def test_workers_pulling_at_once_share_a_burst_of_runs(nats_server: NatsServer, nc: Client, crud: Crud) -> None:
    # Each pull takes at most MORE_AT_ONCE runs, so two workers pulling in turn share the burst (one that took
    # it all would hold its runs' deltas less long than a busy worker does, and do the work of both alone).
    runs = 4 * intake.MORE_AT_ONCE
    settings = Settings(NATS_URL=nats_server.url, backend="scripted", script_tokens=5, script_rate=10, capacity=runs)
    async with running(settings) as one, running(settings) as two:
        await asyncio.gather(*(submit(nc, f"go {n}") for n in range(runs)))  # sent at once
        async with asyncio.timeout(60):
            while one.completed + two.completed < runs:
                await asyncio.sleep(0.05)
    assert min(one.completed, two.completed) >= runs / 4, (one.completed, two.completed)
