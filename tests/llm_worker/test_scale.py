"""Three workers share the queue; one is killed mid-run; twenty runs each finish exactly once and
apply their commands exactly once."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from pathlib import Path

from nats.aio.client import Client

from proto import subjects
from proto.codec import decode_run_event, encode
from proto.events import EventType
from proto.messages import RunRequest
from services.crud.service import Crud
from tests.support.fake_ollama import FakeOllama, serving
from tests.support.natsd import NatsServer
from tests.support.stack import Stack

RUNS = 20


async def test_twenty_runs_over_three_workers_one_killed(
    nats_server: NatsServer, nc: Client, crud: Crud, tmp_path: Path
) -> None:
    # Every run asks for "item N"; the fake model answers with a command naming the task in the
    # request's last words, then some slow text, so runs overlap and a kill lands mid-run.
    fake = FakeOllama([], delay_s=0.02)
    fake.script = ['{"op": "create", "name": "{item}"}\n', *[f"t{n} " for n in range(15)]]
    async with serving(fake):
        stack = Stack(tmp_path)
        stack.nats = nats_server
        env = {"LLM_BACKEND": "ollama", "OLLAMA_HOST": fake.url, "LLM_ACK_WAIT_S": "1", "LLM_CAPACITY": "2"}
        workers = [stack.spawn(f"w{n}", "services.llm_worker", env) for n in range(3)]
        for worker in workers:
            await asyncio.to_thread(worker.wait_for_line, "llm_worker ready", 30)
        js = nc.jetstream()
        seen: Counter[tuple[str, str]] = Counter()
        done = asyncio.Event()
        finished: set[str] = set()

        async def on_event(msg: object) -> None:
            run_id = msg.subject.split(".")[2]  # type: ignore[attr-defined]  # chat.events.<run>.<attempt>.<index>
            event = decode_run_event(msg.data)  # type: ignore[attr-defined]
            seen[(run_id, event.type.value)] += 1
            if event.type in (EventType.RUN_FINISHED, EventType.RUN_ERROR):
                finished.add(run_id)
                if len(finished) == RUNS:
                    done.set()

        sub = await js.subscribe(subjects.RUN_EVENTS_ALL, cb=on_event, ordered_consumer=True)
        run_ids = []
        try:
            for n in range(RUNS):
                run_id = uuid.uuid4().hex
                run_ids.append(run_id)
                request = RunRequest(run_id=run_id, thread_id=f"t{n}", text=f"please add item {n}")
                await js.publish(subjects.CHAT_SUBMIT, encode(request), headers={"Nats-Msg-Id": run_id})
            # Kill the first worker in the middle of a run: once text of one of its runs has streamed.
            async with asyncio.timeout(30):
                while not any(
                    f"run {r}: attempt 1" in workers[0].output() and seen[(r, "TEXT_MESSAGE_CONTENT")] for r in run_ids
                ):
                    await asyncio.sleep(0.01)
            workers[0].stop(signal.SIGKILL)
            async with asyncio.timeout(90):
                await done.wait()
        finally:
            await sub.unsubscribe()
            for worker in workers:
                worker.stop()
    assert all(seen[(r, "RUN_FINISHED")] == 1 and seen[(r, "RUN_ERROR")] == 0 for r in run_ids), seen
    restarted = [r for r in run_ids if seen[(r, "RUN_STARTED")] > 1]
    assert restarted, "the killed worker's run was started again elsewhere"
    survivors = workers[1].output() + workers[2].output()
    assert all(f"run {r}: attempt 2" in survivors for r in restarted)
    assert sum(1 for w in workers[1:] if "attempt 1" in w.output()) == 2, "both survivors took runs"
    names = [t.name for t in await crud.db.list_tasks()]
    assert sorted(names) == sorted(f"item {n}" for n in range(RUNS)), "each run's command applied once"
