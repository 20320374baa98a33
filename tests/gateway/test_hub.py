"""The UI stream's fan-out starts over (every browser gets the whole list) only when the stream really was
created anew, never because events kept coming while it asked."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import encode
from proto.messages import Notice
from services.gateway.hub import REWOUND, Hub
from services.gateway.metrics import Metrics


async def put_notice(nc: Client, text: str) -> None:
    await nc.jetstream().publish(subjects.UI_NOTIFY, encode(Notice(event_id=uuid.uuid4().hex, text=text)))


async def test_events_relayed_while_the_stream_is_checked_are_no_rewind(
    nc: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    js = nc.jetstream()
    hub = Hub(js, lambda event: "", 100, Metrics(), asyncio.Event())
    await hub.start()
    follower, _ = hub.join()
    try:
        await put_notice(nc, "before")
        async with asyncio.timeout(5):
            while hub.seq < 1:
                await asyncio.sleep(0.01)
        real = js.stream_info

        async def answered_during_a_burst(name: str, *args: Any, **kwargs: Any) -> Any:
            # The stream's state is taken, then (as in a burst of writes) the next event is published and
            # relayed before the answer is read: the answer is one event behind what was relayed.
            info = await real(name, *args, **kwargs)
            await put_notice(nc, "during")
            async with asyncio.timeout(5):
                while hub.seq <= info.state.last_seq:
                    await asyncio.sleep(0.01)
            return info

        monkeypatch.setattr(js, "stream_info", answered_during_a_burst)
        with caplog.at_level(logging.INFO, logger="services.gateway.hub"):
            await hub._check_rewound()
        monkeypatch.setattr(js, "stream_info", real)
        queued = follower.pending()
        assert REWOUND not in queued and [f.seq for f in queued] == [1, 2]
        assert "created anew" not in caplog.text
        # A stream that really was created anew is still found out.
        config = (await js.stream_info(subjects.UI_STREAM)).config
        await js.delete_stream(subjects.UI_STREAM)
        await js.add_stream(config)
        await hub._check_rewound()
        assert follower.pending() == [REWOUND]
    finally:
        await hub.stop()
