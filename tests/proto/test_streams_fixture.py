"""The test server fixture gives a working JetStream with ghostbus's streams."""

from nats.aio.client import Client

from proto import subjects


async def test_streams_exist_and_store_messages(nc: Client) -> None:
    js = nc.jetstream()
    ack = await js.publish(subjects.ui_event("task", "created"), b"{}")
    assert ack.stream == subjects.UI_STREAM
    assert ack.seq == 1
    names = {s.config.name for s in await js.streams_info()}
    assert names == {subjects.RUNS_STREAM, subjects.RUN_EVENTS_STREAM, subjects.UI_STREAM}
