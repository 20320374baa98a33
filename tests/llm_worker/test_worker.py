"""The worker end to end on the bus: a run pulled from the work queue, the real embedded model, the real
crud, and the run's AG-UI events in order on the run's subject."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from proto import subjects
from proto.bus import close, connect
from proto.codec import decode, decode_run_event, decode_ui_event, encode
from proto.events import TERMINAL, EventType
from proto.messages import CommandResult, RunRequest
from services.crud.service import Crud
from services.llm_worker.config import Settings
from services.llm_worker.worker import Worker, running
from tests.support.fake_ollama import FakeOllama, serving
from tests.support.natsd import NatsServer
from tests.support.stack import Stack


async def submit(nc: Client, text: str) -> str:
    run_id = uuid.uuid4().hex
    request = RunRequest(run_id=run_id, thread_id="t1", text=text)
    await nc.jetstream().publish(subjects.CHAT_SUBMIT, encode(request), headers={"Nats-Msg-Id": run_id})
    return run_id


async def events_of(nc: Client, run_id: str) -> list[object]:
    """Every event of the run, up to and including the terminal one (each wait has a deadline: the model runs in
    this process, and on a loaded machine its answer can take tens of seconds)."""
    sub = await nc.jetstream().subscribe(subjects.run_events(run_id), ordered_consumer=True)
    out = []
    try:
        while True:
            event = decode_run_event((await sub.next_msg(timeout=90)).data)
            out.append(event)
            if event.type in TERMINAL:
                return out
    finally:
        await sub.unsubscribe()


@pytest.fixture
async def worker(nats_server: NatsServer, model_dir: Path, crud: Crud) -> AsyncIterator[Worker]:
    settings = Settings(NATS_URL=nats_server.url, backend="embedded", model_dir=model_dir)
    async with running(settings) as running_worker:
        yield running_worker


async def test_add_apples_runs_the_command_once_and_replies_in_words(nc: Client, worker: Worker, crud: Crud) -> None:
    run_id = await submit(nc, "add apples")
    events = await events_of(nc, run_id)
    types = [e.type for e in events]
    assert types == [
        EventType.RUN_STARTED,
        EventType.TOOL_CALL_START,
        EventType.TOOL_CALL_ARGS,
        EventType.TOOL_CALL_END,
        EventType.TOOL_CALL_RESULT,
        EventType.TEXT_MESSAGE_START,
        EventType.TEXT_MESSAGE_CONTENT,
        EventType.TEXT_MESSAGE_END,
        EventType.RUN_FINISHED,
    ]
    start, args, result = events[1], events[2], events[4]
    assert start.tool_call_name == "create" and start.tool_call_id == f"{run_id}-1"
    assert json.loads(args.delta) == {"op": "create", "name": "apples"}
    assert decode(CommandResult, result.content.encode()).summary == "Added “apples”."
    assert events[6].delta == "Added “apples”."
    metrics = events[-1].result
    assert metrics["model"] == "gemma3-270m" and metrics["tokens"] > 0 and metrics["ttft_s"] > 0
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]


async def test_small_talk_gets_a_helpful_reply_and_changes_nothing(nc: Client, worker: Worker, crud: Crud) -> None:
    events = await events_of(nc, await submit(nc, "hello there"))
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert "I can only change the task list" in text
    assert await crud.db.list_tasks() == []


async def test_a_broken_model_server_ends_the_run_with_a_readable_error(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    async with serving(FakeOllama(["x"])) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url, OLLAMA_MODEL="gone")
        async with running(settings):
            events = await events_of(nc, await submit(nc, "add apples"))
    assert events[-1].type == EventType.RUN_ERROR
    assert "ollama pull gone" in events[-1].message


async def test_inline_commands_from_a_chat_model_are_executed_and_never_shown(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    script = ["On it. ", '{"op": "cr', 'eate", "name": "apples"}', "\nDone."]
    async with serving(FakeOllama(script)) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            events = await events_of(nc, await submit(nc, "add apples"))
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text.split() == ["On", "it.", "Done."]
    assert [e.tool_call_name for e in events if e.type == EventType.TOOL_CALL_START] == ["create"]
    assert events[-1].type == EventType.RUN_FINISHED and events[-1].result["tokens"] == len(script)
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]


async def test_a_wrong_command_from_the_model_is_a_failed_action_and_writes_nothing(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    script = ["Sure. ", '{"op": "create", "name": 42}', " and ", '{"op": "explode"}', " done."]
    followup = ["Sorry, I cannot do that."]
    async with serving(FakeOllama(script, followup=followup)) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            events = await events_of(nc, await submit(nc, "add 42"))
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert "{" not in text and "op" not in text
    results = [decode(CommandResult, e.content.encode()) for e in events if e.type == EventType.TOOL_CALL_RESULT]
    assert [(r.ok, r.error.code if r.error else None) for r in results] == [(False, "invalid"), (False, "invalid")]
    assert "name" in (results[0].error.message if results[0].error else "")
    assert await crud.db.list_tasks() == []
    assert events[-1].type == EventType.RUN_FINISHED
    # The refused commands went back to the model once, with the reasons, and it answered in words.
    correction = fake.requests[1]["messages"][-1]["content"]
    assert correction.startswith("These commands were not carried out") and "explode" in correction
    assert len(fake.requests) == 2 and text.endswith("Sorry, I cannot do that.")


async def test_the_conversation_is_remembered_per_thread_and_reset_on_request(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    async with serving(FakeOllama(["Noted."])) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            await events_of(nc, await submit(nc, "my name is Ada"))
            await events_of(nc, await submit(nc, "what is my name?"))
            await events_of(nc, await submit(nc, "!reset"))
            await events_of(nc, await submit(nc, "hello again"))
    second, third = fake.requests[1]["messages"], fake.requests[2]["messages"]
    assert [m["content"] for m in second[1:]] == ["my name is Ada", "Noted.", "what is my name?"]
    assert [m["content"] for m in third[1:]] == ["hello again"]


async def test_help_and_test_are_answered_without_the_model(nc: Client, worker: Worker, crud: Crud) -> None:
    help_events = await events_of(nc, await submit(nc, "!help"))
    text = "".join(e.delta for e in help_events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert '"op": "clear_completed"' in text and "!reset" in text
    ui = await nc.jetstream().subscribe(subjects.UI_NOTIFY, ordered_consumer=True)
    test_events = await events_of(nc, await submit(nc, "!test"))
    text = "".join(e.delta for e in test_events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert "gateway → worker:" in text and "ms" in text
    notice = decode_ui_event((await ui.next_msg(timeout=10)).data)
    assert notice.type == "notice" and notice.text.startswith("Test notification")
    await ui.unsubscribe()


async def test_stop_ends_a_long_answer_within_200_ms(nats_server: NatsServer, nc: Client, crud: Crud) -> None:
    async with serving(FakeOllama([f"word{n} " for n in range(200)], delay_s=0.05)) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            run_id = await submit(nc, "tell me a story")
            sub = await nc.jetstream().subscribe(subjects.run_events(run_id), ordered_consumer=True)
            while decode_run_event((await sub.next_msg(timeout=10)).data).type != EventType.TEXT_MESSAGE_CONTENT:
                pass
            asked = time.monotonic()
            await nc.publish(subjects.chat_cancel(run_id), b"")
            while True:
                event = decode_run_event((await sub.next_msg(timeout=5)).data)
                if event.type in TERMINAL:
                    break
            stopped_after = time.monotonic() - asked
            await sub.unsubscribe()
    assert event.type == EventType.RUN_ERROR and event.code == "cancelled"
    assert stopped_after < 0.2, stopped_after


async def test_a_worker_killed_mid_run_hands_the_run_to_another_which_applies_commands_once(
    nats_server: NatsServer, nc: Client, crud: Crud, tmp_path: Path
) -> None:
    script = ['{"op": "create", "name": "apples"}\n', *[f"w{n} " for n in range(60)]]
    async with serving(FakeOllama(script, delay_s=0.05)) as fake:
        stack = Stack(tmp_path)
        stack.nats = nats_server
        env = {"LLM_BACKEND": "ollama", "OLLAMA_HOST": fake.url, "LLM_ACK_WAIT_S": "1"}
        first = stack.spawn("w1", "services.llm_worker", env)
        second = stack.spawn("w2", "services.llm_worker", env)
        for service in (first, second):
            await asyncio.to_thread(service.wait_for_line, "llm_worker ready", 30)
        try:
            run_id = await submit(nc, "add apples and chat")
            sub = await nc.jetstream().subscribe(subjects.run_events(run_id), ordered_consumer=True)
            seen = []
            while True:
                event = decode_run_event((await sub.next_msg(timeout=20)).data)
                seen.append(event.type)
                if event.type == EventType.TOOL_CALL_RESULT and seen.count(EventType.RUN_STARTED) == 1:
                    taker = next(s for s in (first, second) if f"run {run_id}: attempt 1" in s.output())
                    taker.stop(signal.SIGKILL)
                if event.type in TERMINAL:
                    break
            await sub.unsubscribe()
        finally:
            for service in stack.services:
                service.stop()
    assert seen.count(EventType.RUN_STARTED) == 2, seen  # the browser sees the run start again
    assert seen[-1] == EventType.RUN_FINISHED
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]
    other = second if taker is first else first
    assert f"run {run_id}: attempt 2" in other.output()


async def test_model_lists_and_switches_the_conversation_s_model(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    async with serving(FakeOllama(["Hi."])) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url, OLLAMA_MODEL="gone")
        async with running(settings):
            listed = await events_of(nc, await submit(nc, "!model"))
            unknown = await events_of(nc, await submit(nc, "!model nosuch"))
            switched = await events_of(nc, await submit(nc, "!model llama3.2"))
            answered = await events_of(nc, await submit(nc, "hello"))

    def said(events: list[Any]) -> str:
        return "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)

    assert said(listed) == "Models here: llama3.2:latest. This conversation uses gone."
    assert said(unknown).startswith("There is no model “nosuch” here.")
    assert said(switched) == "From now on this conversation uses llama3.2:latest."
    assert said(answered) == "Hi." and fake.requests[-1]["model"] == "llama3.2:latest"
    assert answered[-1].result["model"] == "llama3.2:latest"


async def test_a_run_that_keeps_failing_ends_with_an_error_after_max_attempts(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    js = nc.jetstream()
    queue = await js.pull_subscribe(subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM)
    run_id = await submit(nc, "add apples")
    # A first attempt that dies without acknowledging (as a killed worker would).
    (first,) = await queue.fetch(1, timeout=5)
    await first.nak()
    await queue.unsubscribe()
    async with serving(FakeOllama(["never"])) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url, max_attempts=1)
        async with running(settings):
            events = await events_of(nc, run_id)
        assert fake.requests == []
    assert events[-1].type == EventType.RUN_ERROR and events[-1].code == "attempts"
    assert "giving up" in events[-1].message


async def test_a_generation_longer_than_the_ack_wait_is_not_handed_to_another_worker(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    # 3 s of answer against a 1 s ack wait: only the in_progress heartbeats keep the run here.
    async with serving(FakeOllama([f"w{n} " for n in range(30)], delay_s=0.1)) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url, ack_wait_s=1)
        async with running(settings), running(settings):
            events = await events_of(nc, await submit(nc, "tell me a story"))
    assert [e.type for e in events].count(EventType.RUN_STARTED) == 1
    assert events[-1].type == EventType.RUN_FINISHED and len(fake.requests) == 1


async def test_stop_on_a_run_still_in_the_queue_ends_it_when_a_worker_takes_it(
    nats_server: NatsServer, nc: Client, crud: Crud
) -> None:
    async with serving(FakeOllama([f"w{n} " for n in range(20)], delay_s=0.05)) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            busy = await submit(nc, "a long answer")
            queued = await submit(nc, "add apples")
            await nc.publish(subjects.chat_cancel(queued), b"")
            first = await events_of(nc, busy)
            second = await events_of(nc, queued)
    assert first[-1].type == EventType.RUN_FINISHED
    assert [e.type for e in second] == [EventType.RUN_ERROR] and second[0].code == "cancelled"
    assert len(fake.requests) == 1 and await crud.db.list_tasks() == []


@pytest.fixture
async def lasting_nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A connection that survives a nats-server restart, as the services' connections do."""
    client = await connect(nats_server.url, "test")
    yield client
    await close(client)


async def test_a_worker_stopping_without_nats_hands_its_run_back_at_once(
    nats_server: NatsServer, lasting_nc: Client, crud: Crud, caplog: pytest.LogCaptureFixture
) -> None:
    # Ctrl-C on `make run` stops nats-server with the worker: a run in hand can no longer finish, and
    # waiting for it would only end in honcho's SIGKILL 5 s later.
    caplog.set_level(logging.INFO, logger="services.llm_worker.worker")
    nc = lasting_nc
    script = ['{"op": "create", "name": "apples"}\n', *[f"w{n} " for n in range(100)]]
    async with serving(FakeOllama(script, delay_s=0.1)) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url, ack_wait_s=1)
        async with running(settings):  # leaving it is what SIGTERM does
            run_id = await submit(nc, "add apples and chat")
            sub = await nc.jetstream().subscribe(subjects.run_events(run_id), ordered_consumer=True)
            while decode_run_event((await sub.next_msg(timeout=20)).data).type != EventType.TOOL_CALL_RESULT:
                pass
            await sub.unsubscribe()
            nats_server.stop()
            asked = time.monotonic()
        took = time.monotonic() - asked
        assert took < 5, f"{took:.1f} s: honcho would have killed it"
        assert "1 run(s) in hand go back to the queue" in caplog.text
        # Nothing of the run goes on after the worker stopped: the model's answer was abandoned too.
        async with asyncio.timeout(2):
            while fake.streaming:
                await asyncio.sleep(0.02)
        # Back with NATS, the next worker takes the run again: it finishes, its command applied once.
        nats_server.start()
        async with running(settings):
            events = await events_of(nc, run_id)
    assert [e.type for e in events].count(EventType.RUN_STARTED) == 2, events
    assert events[-1].type == EventType.RUN_FINISHED, events[-1]
    assert [t.name for t in await crud.db.list_tasks()] == ["apples"]


async def test_a_run_taken_before_crud_is_up_waits_for_it(nats_server: NatsServer, nc: Client, tmp_path: Path) -> None:
    # Services started together (make run again, with a run still queued): the worker may be first.
    from services.crud.config import Settings as CrudSettings
    from services.crud.service import running as crud_running

    js = nc.jetstream()
    async with serving(FakeOllama(['{"op": "create", "name": "apples"}\n'])) as fake:
        settings = Settings(NATS_URL=nats_server.url, backend="ollama", OLLAMA_HOST=fake.url)
        async with running(settings):
            run_id = await submit(nc, "add apples")
            async with asyncio.timeout(10):  # the worker has taken it
                while (await js.consumer_info(subjects.RUNS_STREAM, subjects.RUNS_CONSUMER)).num_ack_pending == 0:
                    await asyncio.sleep(0.02)
            crud_settings = CrudSettings(NATS_URL=nats_server.url, DATA_DIR=tmp_path / "data")
            async with crud_running(crud_settings) as crud:
                events = await events_of(nc, run_id)
                names = [t.name for t in await crud.db.list_tasks()]
    assert events[-1].type == EventType.RUN_FINISHED, events[-1]
    assert names == ["apples"]
