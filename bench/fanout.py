"""SSE fan-out: N browsers on one gateway's `/events`, one task created, the time until every one of them
has the event; and what the N open streams cost the gateway in memory, and the event in CPU.

nats-server, crud and one gateway run as processes (no worker: nothing here chats), a fresh stack for each
N. The browsers are bare TCP connections in this process (an asyncio protocol each, on uvloop: the
cheapest client there is, since it shares the machine's cores with the gateway), opened in batches, each
batch answered (status 200) before the next. Once the gateway is idle, one create goes to crud over NATS;
the clock starts just before it is sent, and each client stamps the read that brings `event: task`. A
plain NATS subscriber on the UI subjects (the tap) splits the time in two: crud (transaction, outbox,
JetStream) and the gateway's fan-out to the sockets."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
import nats
import uvloop
from nats.aio.client import Client
from nats.aio.msg import Msg

from bench.common import machine_load, plot_latencies, process_usage, save, summary_ms
from proto import subjects
from proto.codec import decode, encode
from proto.commands import TaskCreate
from proto.messages import PERSON, CommandRequest, CommandResult
from tests.support.stack import Stack

SIZES = (1_000, 10_000)
BATCH = 250  # connections opened at once (uvicorn's accept backlog is 2,048)
MARK = b"event: task"
SETTLE_S = 0.5  # the gateway counts as idle after this long with under IDLE_CPU_S of CPU
IDLE_CPU_S = 0.02


class Tally:
    """What all the clients have seen, counted as it happens (no task or future per client)."""

    def __init__(self) -> None:
        self.answered = 0
        self.refused: list[bytes] = []
        self.arrived = 0
        self.closed = 0
        self.want_answered = 0
        self.want_arrived = 0
        self.all_answered = asyncio.Event()
        self.all_arrived = asyncio.Event()


class SseClient(asyncio.Protocol):
    """One browser on `/events`: the response head, then the stream until the first task event."""

    __slots__ = ("tally", "request", "transport", "head", "tail", "answered", "arrived")

    def __init__(self, tally: Tally, request: bytes) -> None:
        self.tally = tally
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.tail = b""
        self.answered = False
        self.arrived: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.arrived is not None:
            return
        if not self.answered:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self.head[:end], self.head[end + 4 :]
            self.head = b""
            if not head.startswith(b"HTTP/1.1 200"):
                self.tally.refused.append(head[:200])
                self.tally.all_answered.set()  # wakes the wait, which then fails
                return
            self.answered = True
            self.tally.answered += 1
            if self.tally.answered >= self.tally.want_answered:
                self.tally.all_answered.set()
        seen = self.tail + data
        if MARK in seen:
            self.arrived = now
            self.tally.arrived += 1
            if self.tally.arrived >= self.tally.want_arrived:
                self.tally.all_arrived.set()
        else:
            self.tail = seen[-len(MARK) :]  # a mark split between two reads

    def connection_lost(self, error: Exception | None) -> None:
        self.tally.closed += 1


def itself(client: SseClient) -> Callable[[], SseClient]:
    return lambda: client


async def connect(port: int, n: int, tally: Tally) -> list[SseClient]:
    """`n` clients on `/events`, BATCH at a time, each batch answered before the next is opened."""
    loop = asyncio.get_running_loop()
    request = f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
    clients: list[SseClient] = []
    for start in range(0, n, BATCH):
        batch = [SseClient(tally, request) for _ in range(min(BATCH, n - start))]
        tally.want_answered = start + len(batch)
        tally.all_answered.clear()
        await asyncio.gather(*(loop.create_connection(itself(c), "127.0.0.1", port) for c in batch))
        clients += batch
        async with asyncio.timeout(60):
            while tally.answered < tally.want_answered:
                assert not tally.refused, f"refused: {tally.refused[0]!r}"
                await tally.all_answered.wait()
    return clients


async def settle(pid: int, limit_s: float = 30.0) -> float:
    """Wait until the process is idle (it may still be answering the last clients' look at the stream)."""
    started = time.monotonic()
    before = process_usage(pid)["cpu_s"]
    while time.monotonic() - started < limit_s:
        await asyncio.sleep(SETTLE_S)
        now = process_usage(pid)["cpu_s"]
        if now - before < IDLE_CPU_S:
            break
        before = now
    return round(time.monotonic() - started, 2)


async def followers(url: str) -> int:
    """The gateway's own count of browsers on the stream."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("ghostbus_gateway_sse_clients "):
            return int(float(line.split()[1]))
    raise AssertionError("no sse_clients gauge in /metrics")


async def create(nc: Client, name: str) -> CommandResult:
    request = CommandRequest(command_id=uuid.uuid4().hex, actor=PERSON, command=TaskCreate(name=name))
    reply = await nc.request(subjects.crud_command("task", "create"), encode(request), timeout=30)
    result = decode(CommandResult, reply.data)
    assert result.ok, result.error
    return result


async def one_size(base: Path, n: int) -> tuple[dict[str, Any], list[float]]:
    machine = machine_load()
    stack = Stack(base / str(n))
    stack.start(workers=0)
    gateway = next(s for s in stack.services if s.name == "gateway").proc.pid
    assert stack.nats is not None
    nc = await nats.connect(stack.nats.url)
    on_bus: list[float] = []

    async def tap(msg: Msg) -> None:
        on_bus.append(time.monotonic())

    tally = Tally()
    clients: list[SseClient] = []
    try:
        await nats_ready(nc)
        # A first event with nobody listening: the gateway's rendering is warm before it is measured.
        await create(nc, "warm up")
        await settle(gateway)
        baseline = process_usage(gateway)
        began = time.monotonic()
        clients = await connect(stack.port, n, tally)
        connect_s = time.monotonic() - began
        settled_s = await settle(gateway)
        followed = await followers(stack.url)
        assert followed == n, f"the gateway follows {followed} streams, not {n}"
        idle = process_usage(gateway)
        mine = process_usage(os.getpid())
        await nc.subscribe(subjects.UI_ALL, cb=tap)
        await nc.flush()
        tally.want_arrived = n
        t0 = time.monotonic()
        await create(nc, "fan-out")
        crud_s = time.monotonic() - t0
        with_timeout = True
        try:
            async with asyncio.timeout(60):
                await tally.all_arrived.wait()
        except TimeoutError:
            with_timeout = False
        after = process_usage(gateway)
        mine_after = process_usage(os.getpid())
        closed = tally.closed  # before this side closes them
    finally:
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        await nc.close()
        stack.stop()
    latencies = [c.arrived - t0 for c in clients if c.arrived is not None]
    bus = on_bus[0] - t0 if on_bus else float("nan")
    fanout = [c.arrived - on_bus[0] for c in clients if c.arrived is not None] if on_bus else []
    grown = idle["rss_mb"] - baseline["rss_mb"]
    figures = {
        "machine_at_start": machine,
        "clients": n,
        "received": len(latencies),
        "all_received_within_60_s": with_timeout,
        "refused": len(tally.refused),
        "closed_by_gateway": closed,
        "connect_s": round(connect_s, 2),
        "connections_per_s": round(n / connect_s, 1),
        "settle_after_connect_s": settled_s,
        "created_to_received": summary_ms(latencies),
        "created_to_bus_ms": round(bus * 1000, 3),
        "crud_reply_ms": round(crud_s * 1000, 3),
        "bus_to_received": summary_ms(fanout),
        "spread_first_to_last_ms": round((max(latencies) - min(latencies)) * 1000, 3) if latencies else None,
        "gateway": {
            "rss_mb_before_clients": baseline["rss_mb"],
            "rss_mb_with_clients": idle["rss_mb"],
            "rss_mb_after_event": after["rss_mb"],
            "rss_kb_per_client": round(grown * 1024 / n, 1),
            "cpu_s_connecting": round(idle["cpu_s"] - baseline["cpu_s"], 2),
            "cpu_s_delivering": round(after["cpu_s"] - idle["cpu_s"], 3),
        },
        "client_cpu_s_receiving": round(mine_after["cpu_s"] - mine["cpu_s"], 3),
    }
    return figures, latencies


async def nats_ready(nc: Client) -> None:
    """crud answers (the stack waited for the gateway's health check, which asks crud too)."""
    await nc.request(subjects.service_ping(subjects.CRUD_SERVICE), b"", timeout=5)


def plot(series: Mapping[str, Sequence[float]]) -> Path:
    """The distribution of the time until each client had the event, one line per N."""
    return plot_latencies(
        "fanout",
        series,
        "SSE fan-out: one event to N clients of one gateway",
        xlabel="task created → event read by the client (ms, log scale)",
        ylabel="fraction of clients",
        target_ms=(1000, "target for p99 (1 s)"),
    )


async def measure(base: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    series: dict[str, list[float]] = {}
    for n in SIZES:
        figures[str(n)], series[f"{n:,} clients"] = await one_size(base, n)
    plot(series)
    save("fanout", figures)
    return figures


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(measure(Path(directory)))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
