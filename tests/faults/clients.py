"""What a person's browser does, through the public interfaces only: a chat over `/ws` that resumes its
run after the socket drops, a tab following `/events` that reconnects with `Last-Event-ID` as
EventSource does and keeps the list it shows, and `/api/tasks`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
import websockets

TERMINAL = ("RUN_FINISHED", "RUN_ERROR", "error")
RETRY_S = 0.1  # how soon a dropped connection is tried again


Shown = tuple[str, bool, int]  # a task as a page shows it: name, done, position


async def tasks(url: str) -> dict[int, Shown]:
    """GET /api/tasks: id -> (name, done, position)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get("/api/tasks")
    assert response.status_code == 200, response.text
    return {t["id"]: (t["name"], t["done"], t["position"]) for t in response.json()}


async def names(url: str) -> list[str]:
    """The task names in list order, as GET /api/tasks gives them."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get("/api/tasks")
    assert response.status_code == 200, response.text
    return [t["name"] for t in response.json()]


@dataclass
class Conversation:
    """One chat message and its answer as the page shows it: the text is rebuilt from each RUN_STARTED
    on, and a dropped socket is reopened and the run resumed (`{"type": "resume"}`) until it ends."""

    url: str
    text: str
    run_id: str | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)  # since the last RUN_STARTED
    end: dict[str, Any] | None = None
    reconnects: int = 0
    accepted: asyncio.Event = field(default_factory=asyncio.Event)
    texting: asyncio.Event = field(default_factory=asyncio.Event)  # some of the answer has arrived

    @property
    def reply(self) -> str:
        return "".join(f["delta"] for f in self.frames if f["type"] == "TEXT_MESSAGE_CONTENT")

    @property
    def results(self) -> list[dict[str, Any]]:
        """Each command's result as the chat shows it."""
        return [json.loads(f["content"]) for f in self.frames if f["type"] == "TOOL_CALL_RESULT"]

    async def run(self, timeout: float = 90.0) -> Conversation:
        ws_url = self.url.replace("http://", "ws://") + "/ws"
        async with asyncio.timeout(timeout):
            while self.end is None:
                try:
                    async with websockets.connect(ws_url, max_size=2**22) as ws:
                        if self.run_id is None:
                            await ws.send(json.dumps({"type": "chat", "text": self.text}))
                        else:
                            await ws.send(json.dumps({"type": "resume", "runId": self.run_id}))
                        async for raw in ws:
                            frame = json.loads(raw)
                            # Under load, events due at once come as one frame: an array of them.
                            if any([self.take(f) for f in (frame if isinstance(frame, list) else [frame])]):
                                return self
                except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake):
                    assert self.run_id is not None, "the socket dropped before the run was accepted"
                    self.reconnects += 1
                    await asyncio.sleep(RETRY_S)
        return self

    def take(self, frame: dict[str, Any]) -> bool:
        """One frame from the gateway; True once the run has ended."""
        kind = frame.get("type")
        if kind == "run":
            self.run_id = frame["runId"]
            self.accepted.set()
            return False
        if self.run_id is not None and frame.get("runId") not in (None, self.run_id):
            return False
        if kind == "RUN_STARTED":
            self.frames = []
        if kind in ("status", "rendered"):
            return False
        self.frames.append(frame)
        if kind == "TEXT_MESSAGE_CONTENT":
            self.texting.set()
        if kind in TERMINAL:
            self.end = frame
            return True
        return False


def parsed(line: str, event: dict[str, str]) -> bool:
    """One line of an SSE stream into `event`; True when it completes an event with data."""
    if line:
        if not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = event.get(key, "") + value.removeprefix(" ")
        return False
    if "data" in event:
        return True
    event.clear()
    return False


class _Items(HTMLParser):
    """The task items of an `event: task` or `event: reset`: id, name, done, position, and whether it
    was deleted."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[list[Any]] = []
        self._open: list[Any] | None = None
        self._in_name = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        task = re.fullmatch(r"task-(\d+)", found.get("id") or "")
        if task:
            classes = (found.get("class") or "").split()
            position = int(found.get("data-position") or -1)
            self._open = [int(task.group(1)), "", "done" in classes, position, found.get("data-kind") == "deleted"]
            self.items.append(self._open)
        elif self._open is not None and "name" in (found.get("class") or "").split():
            self._in_name = True

    def handle_endtag(self, tag: str) -> None:
        self._in_name = False

    def handle_data(self, data: str) -> None:
        if self._in_name and self._open is not None:
            self._open[1] += data


def items(html: str) -> list[tuple[int, Shown, bool]]:
    """(id, as shown, deleted) for each task item in the HTML."""
    parser = _Items()
    parser.feed(html)
    return [(i, (name, done, position), deleted) for i, name, done, position, deleted in parser.items]


@dataclass
class Tab:
    """One open page following `/events`: it applies each task event to the list it shows, and
    reconnects with the last id it saw whenever the stream ends or breaks."""

    url: str
    shown: dict[int, Shown] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)
    seen: dict[int, str] = field(default_factory=dict)  # each event's data, by id
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (after, got) where an id was skipped
    resets: int = 0
    connections: int = 0
    events: int = 0
    _task: asyncio.Task[None] | None = None

    def open(self) -> Tab:
        """Start following, from the last event applied (none: from the first the stream holds)."""
        self._task = asyncio.create_task(self._follow())
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(10, read=None)) as client:
            while True:
                headers = {"Last-Event-ID": str(self.ids[-1] if self.ids else 0)}
                try:
                    async with client.stream("GET", "/events", headers=headers) as response:
                        if response.status_code == 200:
                            self.connections += 1
                            await self._read(response)
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(RETRY_S)

    async def _read(self, response: httpx.Response) -> None:
        event: dict[str, str] = {}
        async for line in response.aiter_lines():
            if parsed(line, event):
                self.apply(event)
                event = {}

    def apply(self, event: dict[str, str]) -> None:
        self.events += 1
        seq = int(event["id"]) if event.get("id") else None
        kind = event.get("event")
        if kind == "reset":
            self.resets += 1
            self.shown = {i: task for i, task, _ in items(event["data"])}
        elif seq is not None and self.ids and seq != self.ids[-1] + 1:
            self.gaps.append((self.ids[-1], seq))
        if kind == "task":
            for i, task, deleted in items(event["data"]):
                if deleted:
                    self.shown.pop(i, None)
                else:
                    self.shown[i] = task
        if seq is not None:
            self.ids.append(seq)
            self.seen[seq] = event["data"]


async def converged(tabs: list[Tab], url: str, timeout: float = 20.0) -> dict[int, Shown]:
    """Wait until every tab shows the list /api/tasks gives; that list. Each tab got every event once,
    in order (no id twice, none skipped) unless it was sent the whole list instead."""
    deadline = time.monotonic() + timeout
    while True:
        truth = await tasks(url)
        if all(tab.shown == truth for tab in tabs):
            break
        if time.monotonic() > deadline:
            shown = [tab.shown for tab in tabs]
            raise AssertionError(f"the tabs never showed the list:\n{truth}\nthey show:\n{shown}")
        await asyncio.sleep(0.1)
    # Nothing in these scenarios recreates the stream or outruns what it keeps: a full reset would be
    # the gateway mistaking a burst for a new stream (and sending an event twice).
    assert [tab.resets for tab in tabs] == [0] * len(tabs), "a tab was sent the whole list for no reason"
    for tab in tabs:
        how = f"over {tab.connections} connection(s), {tab.resets} reset(s)"
        twice = sorted({i for i in tab.ids if tab.ids.count(i) > 1})
        assert twice == [], f"events came twice {how}: {twice}"
        assert tab.gaps == [] or tab.resets > 0, f"events were skipped {how}: {tab.gaps}"
    return truth


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    """Poll a public interface until `check` holds (the moment a scenario strikes at)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.05)


async def healthy(url: str) -> bool:
    """GET /healthz: 200 only when the gateway has NATS and crud answers."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            return (await client.get("/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


class Stalled:
    """A browser tab that stopped reading `/events` (a frozen tab, a dead network): a bare socket with a
    small receive buffer, read only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.body = b""

    @classmethod
    async def open(cls, url: str, rcvbuf: int = 4096) -> Stalled:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        writer.write(f"GET /events HTTP/1.1\r\nHost: {host}\r\nLast-Event-ID: 0\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return cls(reader, writer)

    async def read_to_end(self, tab: Tab, timeout: float = 30.0) -> None:
        """Read what the gateway sent until it ended the stream, and show it in `tab` (the page)."""
        async with asyncio.timeout(timeout):
            while not self.body.endswith(b"\r\n0\r\n\r\n") and (chunk := await self.reader.read(65536)):
                self.body += chunk
        self.writer.close()
        # The body is chunked (HTTP/1.1): drop the chunk-size lines, keep the event stream.
        event: dict[str, str] = {}
        for line in re.sub(rb"\r\n[0-9a-f]+\r\n", b"", b"\r\n" + self.body).decode().split("\r\n"):
            if parsed(line, event):
                tab.apply(event)
                event = {}
