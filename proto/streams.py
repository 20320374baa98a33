"""The JetStream streams behind the subjects, created idempotently by whichever service starts first."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from proto import subjects

RUN_EVENTS_MAX_AGE = 3600.0
UI_MAX_MSGS = 10_000
# nats-server allows a stream 1,000 consumers unless the stream says otherwise (-1 means that default).
# The gateway follows each run with an ordered consumer, and a browser catching up on the UI stream
# replays through one: more than 1,000 at once happen (bench: 1,000 concurrent runs).
MAX_CONSUMERS = 20_000

STREAMS = (
    StreamConfig(
        name=subjects.RUNS_STREAM,
        subjects=[subjects.CHAT_SUBMIT],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_msgs=10_000,
        discard=DiscardPolicy.NEW,
        duplicate_window=120.0,
    ),
    StreamConfig(
        name=subjects.RUN_EVENTS_STREAM,
        subjects=[subjects.RUN_EVENTS_ALL],
        storage=StorageType.FILE,
        max_age=RUN_EVENTS_MAX_AGE,
        max_msgs=1_000_000,
        max_consumers=MAX_CONSUMERS,
    ),
    StreamConfig(
        name=subjects.UI_STREAM,
        subjects=[subjects.UI_ALL],
        storage=StorageType.FILE,
        max_msgs=UI_MAX_MSGS,
        duplicate_window=600.0,
        max_consumers=MAX_CONSUMERS,
    ),
)


async def ensure_streams(js: JetStreamContext) -> None:
    """Create every stream, or bring an existing one up to this configuration."""
    for config in STREAMS:
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
