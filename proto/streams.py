"""The JetStream streams behind the subjects: crud creates them, only an administrator changes them.

`python -m proto.streams`, run with the NATS admin user's `NATS_URL`, creates each stream or brings it up
to this version's configuration; no service user may change a stream (deploy/nats/permissions.conf)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError, ServiceUnavailableError

from proto import subjects

log = logging.getLogger(__name__)

RUN_EVENTS_MAX_AGE = 3600.0
UI_MAX_MSGS = 10_000
# nats-server allows a stream 1,000 consumers unless the stream says otherwise (-1 means that default).
# The gateway follows each run with an ordered consumer, and a browser catching up on the UI stream
# replays through one: more than 1,000 at once happen (bench: 1,000 concurrent runs).
MAX_CONSUMERS = 20_000
# JetStream's answer to a create when a stream of that name exists with another configuration.
NAME_IN_USE = 10058
# The fields this module sets; another value in an existing stream is reported (an upgrade changed it).
COMPARED = (
    "retention",
    "storage",
    "max_msgs",
    "max_age",
    "discard",
    "duplicate_window",
    "max_consumers",
    "num_replicas",
)
RETRY_S = 0.25
# What JetStream not being there (yet) looks like: disabled, a cluster without a leader, a call refused.
UNANSWERED = (ServiceUnavailableError, NoRespondersError, NatsTimeout)

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

T = TypeVar("T")


def configs(replicas: int = 1) -> list[StreamConfig]:
    """The streams as this version wants them, each kept on `replicas` servers (STREAM_REPLICAS)."""
    return [dataclasses.replace(config, num_replicas=replicas) for config in STREAMS]


class StreamsUnavailable(RuntimeError):
    """The streams cannot be set up or found at start; the message says why and what to do about it."""


async def create_streams(js: JetStreamContext, wait_s: float = 10.0, replicas: int = 1) -> list[str]:
    """Create each stream that does not exist yet (crud, at start: its NATS user may create the three
    streams, never change one). Returns a note for each existing stream whose configuration differs from
    this version's; raises StreamsUnavailable for a stream nothing can be published to, or when JetStream
    does not answer within `wait_s` (a cluster electing its leader answers "unavailable" for a while)."""
    notes = []
    for config in configs(replicas):
        note = await _answered(functools.partial(_create, js, config), wait_s, f"create the {config.name} stream")
        if note:
            notes.append(note)
    return notes


async def ensure_streams(js: JetStreamContext, wait_s: float = 60.0) -> None:
    """Wait until every stream exists (the gateway and the workers: their users may only read a stream's
    info, crud creates them). Raises StreamsUnavailable after `wait_s` without them."""
    deadline = time.monotonic() + wait_s
    missing = [str(config.name) for config in STREAMS]
    said = False
    while True:
        unanswered: Exception | None = None
        for name in list(missing):
            try:
                await js.stream_info(name)
                missing.remove(name)
            except NotFoundError:
                pass
            except UNANSWERED as error:
                unanswered = error
        if not missing:
            return
        if time.monotonic() + RETRY_S > deadline:
            if unanswered is not None:
                raise StreamsUnavailable(_no_jetstream(wait_s, unanswered, "")) from None
            raise StreamsUnavailable(
                f"the JetStream streams {', '.join(missing)} do not exist after {wait_s:.0f} s: crud creates them "
                "at start; is crud running? (or create them: `python -m proto.streams` as the NATS admin user)"
            )
        if not said:
            log.info("waiting for crud to create the JetStream streams (%s missing)", ", ".join(missing))
            said = True
        await asyncio.sleep(RETRY_S)


async def apply_streams(js: JetStreamContext, replicas: int = 1) -> dict[str, str]:
    """Create each stream or bring it up to this version's configuration (the administrative step):
    what was done to each, by name."""
    done = {}
    for config in configs(replicas):
        name = str(config.name)
        try:
            have = (await js.stream_info(name)).config
        except NotFoundError:
            await js.add_stream(config)
            done[name] = "created"
            continue
        changed = differences(have, config)
        if changed:
            await js.update_stream(config)
        done[name] = f"updated ({'; '.join(changed)})" if changed else "unchanged"
    return done


def differences(have: StreamConfig, want: StreamConfig) -> list[str]:
    """How an existing stream's configuration differs from this version's, field by field."""
    out = [
        f"{field} {_plain(getattr(have, field))} instead of {_plain(getattr(want, field))}"
        for field in COMPARED
        if _plain(getattr(want, field)) is not None and _plain(getattr(have, field)) != _plain(getattr(want, field))
    ]
    if sorted(have.subjects or []) != sorted(want.subjects or []):
        out.append(f"subjects {have.subjects} instead of {want.subjects}")
    if have.sealed:
        out.append("sealed")
    return out


def _plain(value: object) -> object:
    return getattr(value, "value", value)


async def _create(js: JetStreamContext, config: StreamConfig) -> str | None:
    try:
        await js.add_stream(config)
        return None
    except BadRequestError as error:
        if error.err_code != NAME_IN_USE:
            raise StreamsUnavailable(f"NATS refused to create the {config.name} stream: {error.description}") from None
    have = (await js.stream_info(str(config.name))).config
    changed = differences(have, config)
    if have.sealed or sorted(have.subjects or []) != sorted(config.subjects or []):
        raise StreamsUnavailable(
            f"the {config.name} stream cannot carry ghostbus's messages ({'; '.join(changed)}); the NATS admin "
            f"must remove it (`nats stream rm {config.name}`) or run `python -m proto.streams`"
        )
    return (
        f"the {config.name} stream differs from this version's configuration ({'; '.join(changed)}); "
        "`python -m proto.streams` as the NATS admin user brings it up to date"
    )


ELECTION_S = 15.0
"""How long a publish or a new consumer waits for a stream's leader on a cluster: a node lost with the leader,
the others elect another within seconds (bench.cluster: up to 7 s); a chat sent meanwhile waits, not refused."""


async def through_election(call: Callable[[], Awaitable[T]], wait_s: float) -> T:
    """`call` (a publish to a stream, a consumer made), tried again while JetStream does not answer, for up to
    `wait_s`: on a cluster, a stream whose leader died has none until the others elect one (seconds). The
    last error is raised when it does not answer in time."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await call()
        except (*UNANSWERED, NoStreamResponseError):
            if time.monotonic() + RETRY_S > deadline:
                raise
            await asyncio.sleep(RETRY_S)


async def _answered(call: Callable[[], Awaitable[T]], wait_s: float, what: str) -> T:
    """`call`, retried while JetStream is not there to answer, for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await call()
        except UNANSWERED as error:
            if time.monotonic() + RETRY_S > deadline:
                raise StreamsUnavailable(_no_jetstream(wait_s, error, what)) from None
            await asyncio.sleep(RETRY_S)


def _no_jetstream(wait_s: float, error: Exception, what: str) -> str:
    doing = f" to {what}" if what else ""
    return (
        f"JetStream did not answer{doing} within {wait_s:.0f} s ({error.__class__.__name__}): is nats-server "
        "running with JetStream on (`-js`, or a `jetstream {}` block), and may this NATS user make this call?"
    )


async def main() -> None:
    from proto.bus import close, connect
    from proto.settings import BusSettings

    settings = BusSettings()
    nc = await connect(settings.nats_url, name="streams")
    try:
        for name, done in (await apply_streams(nc.jetstream(), settings.stream_replicas)).items():
            print(f"{name}: {done}")
    finally:
        await close(nc)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
