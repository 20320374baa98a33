"""crud as a process: SIGKILL between the commit and the reply, then a retry; a nats-server restart
with events pending. Nothing is lost, nothing happens twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from proto import subjects
from proto.codec import decode, decode_ui_event, encode
from proto.commands import TaskCreate
from proto.messages import PERSON, CommandRequest, CommandResult, ListRequest, TaskList
from tests.support.natsd import NatsServer
from tests.support.stack import Stack


def crud_process(stack: Stack, env: dict[str, str] | None = None) -> None:
    stack.spawn("crud", "services.crud", env or {}).wait_for_line("crud ready", 30)


async def ui_stream_names(nc: Client, count: int) -> list[str]:
    js = nc.jetstream()
    out = []
    for seq in range(1, count + 1):
        msg = await js.get_msg(subjects.UI_STREAM, seq)
        out.append(decode_ui_event(msg.data or b"").task.name)
    return out


async def wait_for_messages(nc: Client, count: int, timeout: float = 20.0) -> None:
    js = nc.jetstream()
    async with asyncio.timeout(timeout):
        while (await js.stream_info(subjects.UI_STREAM)).state.messages < count:
            await asyncio.sleep(0.05)


async def test_sigkill_after_the_commit_then_a_retry_applies_the_command_once(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.nats = NatsServer(tmp_path / "nats")
    stack.nats.start()
    request = CommandRequest(command_id="doomed-1", actor=PERSON, command=TaskCreate(name="apples"))
    subject = subjects.crud_command("task", "create")
    try:
        crud_process(stack, {"CRUD_CRASH_AFTER_COMMIT": "doomed-1"})
        nc = await nats.connect(stack.nats.url)
        with pytest.raises((NatsTimeout, NoRespondersError)):
            await nc.request(subject, encode(request), timeout=3)
        crashed = stack.services[-1]
        assert crashed.proc.wait(timeout=10) == -9
        crud_process(stack)
        result = decode(CommandResult, (await nc.request(subject, encode(request), timeout=5)).data)
        assert result.ok and result.summary == "Added “apples”."
        listed = decode(TaskList, (await nc.request(subjects.TASK_LIST, encode(ListRequest()), timeout=5)).data)
        assert [t.name for t in listed.tasks] == ["apples"]
        await wait_for_messages(nc, 1)
        assert await ui_stream_names(nc, 1) == ["apples"]
        await nc.close()
    finally:
        stack.stop()


async def test_events_pending_when_nats_server_restarts_are_published_after_once(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.nats = NatsServer(tmp_path / "nats")
    stack.nats.start()
    try:
        crud_process(stack)
        nc = await nats.connect(stack.nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        for n in range(3):
            request = CommandRequest(command_id=f"c{n}", actor=PERSON, command=TaskCreate(name=f"item {n}"))
            await nc.request(subjects.crud_command("task", "create"), encode(request), timeout=5)
        await wait_for_messages(nc, 3)
        stack.nats.stop()
        stack.nats.restart()
        for n in range(3, 6):
            request = CommandRequest(command_id=f"c{n}", actor=PERSON, command=TaskCreate(name=f"item {n}"))
            async with asyncio.timeout(20):
                while True:
                    try:
                        await nc.request(subjects.crud_command("task", "create"), encode(request), timeout=2)
                        break
                    except (NatsTimeout, NoRespondersError):
                        await asyncio.sleep(0.1)
        await wait_for_messages(nc, 6)
        await asyncio.sleep(0.5)  # a duplicate would arrive within the relay's retry; none may
        assert (await nc.jetstream().stream_info(subjects.UI_STREAM)).state.messages == 6
        assert await ui_stream_names(nc, 6) == [f"item {n}" for n in range(6)]
        await nc.close()
    finally:
        stack.stop()
