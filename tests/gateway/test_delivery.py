"""The fan-out behind `/events`: many browsers get one event at once, a replay meets the live stream
without a gap or a repeat, a browser that stops reading is cut off and catches up, and shutdown does
not wait for open streams."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import encode
from proto.messages import Notice
from services.gateway.config import Settings
from tests.gateway.conftest import serve
from tests.support.natsd import NatsServer
from tests.support.stack import free_port

ID = re.compile(rb"^id: (\d+)\r?$", re.MULTILINE)


async def notify(nc: Client, count: int, size: int = 20, stored: bool = False) -> None:
    """Put `count` notices on the UI stream, as crud would; `stored` waits until the stream has each."""
    for i in range(count):
        data = encode(Notice(event_id=uuid.uuid4().hex, text=(f"{i} " + "x" * size)[:2000]))
        if stored:
            await nc.jetstream().publish(subjects.UI_NOTIFY, data)
        else:
            await nc.publish(subjects.UI_NOTIFY, data)
    await nc.flush()


class RawStream:
    """An SSE connection on a bare socket: reads only when told to, like a stalled browser tab."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.body = b""

    @classmethod
    async def open(cls, url: str, last_event_id: int | None = None, rcvbuf: int | None = None) -> RawStream:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        cursor = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        writer.write(f"GET /events HTTP/1.1\r\nHost: {host}\r\n{cursor}\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return cls(reader, writer)

    def ids(self) -> list[int]:
        return [int(i) for i in ID.findall(self.body)]

    async def read_until(self, count: int, timeout: float = 10.0) -> list[int]:
        """Read until `count` events have come; their ids."""
        async with asyncio.timeout(timeout):
            while len(self.ids()) < count:
                chunk = await self.reader.read(65536)
                assert chunk, f"the stream ended after {len(self.ids())} events"
                self.body += chunk
        return self.ids()

    async def read_to_end(self, timeout: float = 30.0) -> list[int]:
        """Read until the gateway ends the stream (the last chunk; the connection may stay open)."""
        async with asyncio.timeout(timeout):
            while not self.body.endswith(b"\r\n0\r\n\r\n") and (chunk := await self.reader.read(65536)):
                self.body += chunk
        return self.ids()

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def small_queue_url(nats_server: NatsServer, crud: object) -> AsyncIterator[str]:
    async for url in serve(Settings(NATS_URL=nats_server.url, sse_queue=10)):
        yield url


async def metric(url: str, name: str) -> int:
    async with httpx.AsyncClient(base_url=url) as client:
        text = (await client.get("/metrics")).text
    found = re.search(rf"^ghostbus_gateway_{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, text
    return int(float(found.group(1)))


async def test_one_event_reaches_many_browsers_at_once(gateway_url: str, nc: Client) -> None:
    streams = await asyncio.gather(*(RawStream.open(gateway_url) for _ in range(300)))
    assert await metric(gateway_url, "sse_clients") == 300
    started = time.monotonic()
    await notify(nc, 1)
    received = await asyncio.gather(*(s.read_until(1) for s in streams))
    elapsed = time.monotonic() - started
    assert all(ids == [1] for ids in received)
    assert elapsed < 2.0, f"300 browsers took {elapsed:.2f} s"
    for s in streams:
        s.close()
    # Browsers that leave are forgotten at once, even with no event to send them.
    deadline = time.monotonic() + 5
    while (connected := await metric(gateway_url, "sse_clients")) > 0:
        assert time.monotonic() < deadline, f"{connected} closed streams still followed"
        await asyncio.sleep(0.05)


async def test_a_replay_meets_the_live_stream_without_a_gap_or_a_repeat(gateway_url: str, nc: Client) -> None:
    await notify(nc, 300, stored=True)
    live = await RawStream.open(gateway_url, last_event_id=300)  # a browser that is up to date
    publishing = asyncio.create_task(notify(nc, 300))
    behind = await asyncio.gather(*(RawStream.open(gateway_url, last_event_id=n) for n in (0, 150, 299)))
    await publishing
    assert await live.read_until(300) == list(range(301, 601))
    for stream, after in zip(behind, (0, 150, 299), strict=True):
        assert await stream.read_until(600 - after) == list(range(after + 1, 601))
        stream.close()
    live.close()


async def test_a_browser_that_stops_reading_is_cut_off_and_catches_up(small_queue_url: str, nc: Client) -> None:
    stalled = await RawStream.open(small_queue_url, rcvbuf=4096)
    published = 0
    deadline = time.monotonic() + 60
    # Fill the socket buffers and then its queue of ten: it has fallen behind.
    while await metric(small_queue_url, "sse_clients_dropped_total") == 0:
        assert time.monotonic() < deadline, "the stalled browser was never found behind"
        await notify(nc, 500, size=1900)
        published += 500
    assert published < 10_000, "the UI stream keeps 10,000 events; this test needs them all"
    # When it reads again it gets a prefix of the events, in order, and then the end of the stream.
    got = await stalled.read_to_end()
    stalled.close()
    assert got == list(range(1, len(got) + 1)) and len(got) < published
    assert await metric(small_queue_url, "sse_clients") == 0
    # Reconnecting with its cursor (as EventSource does) brings exactly the rest.
    again = await RawStream.open(small_queue_url, last_event_id=got[-1])
    assert await again.read_until(published - len(got), timeout=30) == list(range(len(got) + 1, published + 1))
    again.close()


@pytest.mark.parametrize("nats_gone_first", [False, True], ids=["nats-up", "nats-gone-first"])
async def test_shutdown_ends_open_streams_at_once_and_cleanly(
    nats_server: NatsServer,
    crud: object,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    nats_gone_first: bool,
) -> None:
    from services.gateway import hub
    from services.gateway.server import create_server

    # Ctrl-C under `make run` stops nats-server too, often first; the stream check then waits on a
    # NATS that is gone (checked every 0.2 s here, so one is under way when the exit comes).
    monkeypatch.setattr(hub, "REWIND_CHECK_S", 0.2)
    port = free_port()
    server = create_server(Settings(NATS_URL=nats_server.url), host="127.0.0.1", port=port, log_level="warning")
    uvicorn_log = logging.getLogger("uvicorn.error")  # uvicorn's loggers do not propagate to pytest's
    uvicorn_log.addHandler(caplog.handler)
    try:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        streams = [await RawStream.open(f"http://127.0.0.1:{port}") for _ in range(5)]
        if nats_gone_first:
            nats_server.stop()
            await asyncio.sleep(1.0)  # a few checks begin, and hang on the missing server
        started = time.monotonic()
        server.should_exit = True
        await asyncio.wait_for(serving, 5)
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    assert time.monotonic() - started < 1.5
    for s in streams:
        # Each stream was ended by the gateway, with the chunked body's closing chunk (not cut off).
        assert await s.read_to_end(timeout=2) == [] and s.body.endswith(b"0\r\n\r\n")
        s.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_quiet_stream_sends_keep_alive_comments(quick_pings: None, gateway_url: str) -> None:
    stream = await RawStream.open(gateway_url)
    async with asyncio.timeout(5):
        while stream.body.count(b": ping\r\n\r\n") < 2:
            stream.body += await stream.reader.read(1024)
    stream.close()


async def test_the_fan_out_survives_a_nats_server_restart(gateway_url: str, nats_server: NatsServer) -> None:
    stream = await RawStream.open(gateway_url)
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        # The browser is following live before the restart (one event received), not still catching
        # up: a stream whose catching up meets the restart ends, and a browser would reconnect.
        assert (await client.post("/api/tasks", json={"name": "before"})).status_code == 201
        assert await stream.read_until(1) == [1]
        nats_server.restart()
        # Once crud and the gateway are reconnected, a change made through the page's API reaches the
        # browser that stayed connected the whole time.
        deadline = time.monotonic() + 30
        while (await client.post("/api/tasks", json={"name": "after"})).status_code != 201:
            assert time.monotonic() < deadline, "the gateway never reached crud again"
            await asyncio.sleep(0.2)
    assert await stream.read_until(2, timeout=15) == [1, 2]
    stream.close()


async def test_a_stream_created_anew_sends_every_browser_the_whole_list(
    quick_stream_checks: None, gateway_url: str, nc: Client
) -> None:
    from proto.streams import create_streams

    js = nc.jetstream()
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        for name in ("a", "b", "c"):
            assert (await client.post("/api/tasks", json={"name": name})).status_code == 201
        async with asyncio.timeout(5):  # crud's outbox publishes just after it answers
            while (await js.stream_info(subjects.UI_STREAM)).state.last_seq < 3:
                await asyncio.sleep(0.02)
        following = await RawStream.open(gateway_url)
        await notify(nc, 1, stored=True)
        assert await following.read_until(1) == [4]
        # nats-server lost its store: the UI stream starts again from sequence 1.
        await js.delete_stream(subjects.UI_STREAM)
        await create_streams(js)
        await notify(nc, 1, stored=True)
        # A browser following all along is sent the whole list as of now, with the new stream's sequence.
        reset = (await following.read_until(2, timeout=10))[1]
        assert b"event: reset\r\n" in following.body and following.body.count(b'class="task') == 3
        # And the changes after it arrive as before.
        assert (await client.post("/api/tasks", json={"name": "d"})).status_code == 201
        assert (await following.read_until(3))[2] > reset
        # A browser that comes back with a cursor beyond the new stream's end gets the whole list too.
        again = await RawStream.open(gateway_url, last_event_id=4)
        await again.read_until(1)
        assert b"event: reset\r\n" in again.body and again.body.count(b'class="task') == 4
    again.close()
    following.close()
