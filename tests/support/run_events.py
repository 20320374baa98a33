"""A run's events published as a worker publishes them, for tests that stand in for the worker: each under
its place in the subject (`subjects.run_event`), into the CHAT_EVENTS stream."""

from __future__ import annotations

import asyncio
import time
import uuid

from nats.js import JetStreamContext
from pydantic import BaseModel

from proto import subjects
from proto.codec import encode


class RunEvents:
    """One attempt of one run: each event published goes to the next place."""

    def __init__(self, js: JetStreamContext, run_id: str, attempt: int = 1) -> None:
        self.js = js
        self.run_id = run_id
        self.attempt = attempt
        self.index = 0

    async def publish(self, event: BaseModel | bytes, retrying_s: float = 0.0) -> None:
        """Store the event; with `retrying_s`, keep trying that long while JetStream is away (as a worker
        does; one message id, so it is stored once)."""
        data = event if isinstance(event, bytes) else encode(event)
        subject = subjects.run_event(self.run_id, self.attempt, self.index)
        headers = {"Nats-Msg-Id": uuid.uuid4().hex}
        deadline = time.monotonic() + retrying_s
        while True:
            try:
                await self.js.publish(subject, data, timeout=1 if retrying_s else 5, headers=headers)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        self.index += 1

    async def publish_all(self, *events: BaseModel) -> None:
        for event in events:
            await self.publish(event)
