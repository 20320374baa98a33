"""Conversation messages stored a group at a time: those that arrive while one group is written go in the next,
in one transaction, and each request is answered once its message is stored. A burst of runs starting at once
(each stores the person's message, then the reply) had crud commit once a message, and the commit was most of
the ~80 us of CPU a stored message cost."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import Counter
from collections.abc import Callable

from nats.micro.request import Request

from proto.codec import encode
from proto.messages import ChatMessage, CommandError
from services.crud.db import Database

log = logging.getLogger(__name__)

MAX_GROUP = 200  # messages in one transaction at most
UNSTORED = "The conversation could not be stored; try again."

Answer = Callable[[bool], bytes]
"""The reply to a request once its message is stored, given whether it was new (not stored before)."""


class Appends:
    """The messages waiting to be stored, and the one task that writes them (while there are any)."""

    def __init__(self, db: Database, lock: asyncio.Lock) -> None:
        self.db = db
        self.lock = lock  # crud's single writer: a group's transaction holds it as a command's does
        self.waiting: list[tuple[ChatMessage, Request, Answer]] = []
        self.threads: Counter[str] = Counter()  # conversations with a message waiting or being written
        self.writer: asyncio.Task[None] | None = None
        self.group_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def add(self, message: ChatMessage, request: Request, answer: Answer) -> None:
        """Store `message` with the next group; `request` is answered with `answer`'s bytes once it is."""
        self.waiting.append((message, request, answer))
        self.threads[message.thread_id] += 1
        if self.writer is None or self.writer.done():
            # A context of its own: a group answers many requests, and is none's trace or log ids.
            self.writer = asyncio.get_running_loop().create_task(self._write(), context=contextvars.Context())

    async def settled(self, thread_id: str) -> None:
        """Until the conversation's messages asked for so far are stored, so a read sees them."""
        while self.threads[thread_id]:
            await asyncio.shield(self.group_done)

    async def drain(self) -> None:
        """Until every message asked for is stored (crud stopping)."""
        while self.writer is not None and not self.writer.done():
            await asyncio.shield(self.writer)

    async def _write(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
            stored: list[bool] | None = None
            try:
                async with self.lock:
                    stored = await self.db.append_messages([message for message, _, _ in group])
            except Exception:  # noqa: BLE001 - each requester is told; crud goes on
                log.exception("%d conversation message(s) could not be stored", len(group))
            for message, _, _ in group:
                self.threads[message.thread_id] -= 1
                if not self.threads[message.thread_id]:
                    del self.threads[message.thread_id]
            done, self.group_done = self.group_done, asyncio.get_running_loop().create_future()
            done.set_result(None)
            for n, (_, request, answer) in enumerate(group):
                with contextlib.suppress(Exception):  # a requester gone (NATS reconnecting): the others still hear
                    if stored is None:
                        problem = CommandError(code="internal", message=UNSTORED)
                        await request.respond_error("500", UNSTORED, data=encode(problem))
                    else:
                        await request.respond(answer(stored[n]))
