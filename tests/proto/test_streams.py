"""The streams allow more than nats-server's default 1,000 consumers, also when an older version of
ghostbus made them: a gateway follows every run in progress with a consumer of its own."""

from __future__ import annotations

import nats
from nats.js.api import StreamConfig

from proto import subjects
from proto.streams import STREAMS, ensure_streams
from tests.support.natsd import NatsServer


async def test_more_than_a_thousand_runs_can_be_followed_at_once(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        events = next(s for s in STREAMS if s.name == subjects.RUN_EVENTS_STREAM)
        # As an earlier version made it: no max_consumers, so the server's default of 1,000.
        await js.add_stream(StreamConfig(name=events.name, subjects=events.subjects, max_age=events.max_age))
        await ensure_streams(js)
        follows = [
            await js.subscribe(subjects.run_events(f"run{n}"), stream=subjects.RUN_EVENTS_STREAM, ordered_consumer=True)
            for n in range(1_100)
        ]
        info = await js.stream_info(subjects.RUN_EVENTS_STREAM)
        assert info.state.consumer_count == len(follows) == 1_100
    finally:
        await nc.close()
