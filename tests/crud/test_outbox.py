"""The outbox: events committed while NATS is down are published when it is back, in order, once."""

from __future__ import annotations

import asyncio

from proto import subjects
from proto.codec import decode_ui_event
from proto.commands import TaskCreate
from proto.messages import PERSON, CommandRequest
from services.crud.service import Crud
from tests.support.natsd import NatsServer


async def test_events_committed_while_nats_is_down_arrive_after_it_returns(nats_server: NatsServer, crud: Crud) -> None:
    nats_server.stop()
    for n in range(3):
        request = CommandRequest(command_id=f"offline-{n}", actor=PERSON, command=TaskCreate(name=f"item {n}"))
        result, new = await crud.db.execute(request)
        assert result.ok and new
        crud.relay.wake()
    assert len(await crud.db.pending()) == 3
    nats_server.restart()
    assert await crud.relay.flush(timeout_s=20)
    js = crud.nc.jetstream()
    info = await js.stream_info(subjects.UI_STREAM)
    assert info.state.messages == 3
    names = []
    for seq in range(1, 4):
        msg = await js.get_msg(subjects.UI_STREAM, seq)
        names.append(decode_ui_event(msg.data or b"").task.name)
    assert names == ["item 0", "item 1", "item 2"]


async def test_a_row_published_again_after_a_crash_is_not_duplicated_in_the_stream(crud: Crud) -> None:
    request = CommandRequest(command_id="once", actor=PERSON, command=TaskCreate(name="apples"))
    await crud.db.execute(request)
    assert await crud.relay.flush()
    # As if the service died after the ack but before marking the row sent.
    await crud.db.conn.execute("UPDATE outbox SET sent_at = NULL")
    assert await crud.relay.flush()
    await asyncio.sleep(0)
    info = await crud.nc.jetstream().stream_info(subjects.UI_STREAM)
    assert info.state.messages == 1
