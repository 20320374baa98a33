"""Which llm workers are running and which models they can answer with: their defaults from their
nats.micro PING replies, and their backends' model lists (`llm_worker.models`), for the model picker."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from proto import subjects
from proto.codec import DecodeError, decode
from proto.messages import ModelList, same_model

GATHER_S = 0.3  # replies from every worker on this bus come well within this
LISTS_WAIT_S = 2.0  # a backend's model list may take longer (a cloud endpoint's /models)


@dataclass(frozen=True, order=True)
class WorkerModel:
    """A model some running worker can answer with, the backend serving it, how many workers can,
    and whether it is a worker's default."""

    model: str
    backend: str
    workers: int
    default: bool


async def _ask_all(nc: Client, subject: str, replies: list[bytes], arrived: asyncio.Event) -> Subscription:
    """Send one request to every worker; their answers collect in `replies` until unsubscribed, and
    `arrived` is set at each one."""

    async def collect(msg: Msg) -> None:
        replies.append(msg.data)
        arrived.set()

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=collect)
    await nc.publish(subject, b"", reply=inbox)
    return sub


async def worker_models(nc: Client, wait_s: float = GATHER_S) -> list[WorkerModel]:
    """Every model the running workers can use: their defaults (from the PING every worker answers)
    and their backends' model lists, asked of all of them at once."""
    pings: list[bytes] = []
    answers: list[bytes] = []
    arrived = asyncio.Event()
    subs = [await _ask_all(nc, subjects.service_ping(subjects.WORKER_SERVICE), pings, arrived)]
    subs.append(await _ask_all(nc, subjects.WORKER_MODELS, answers, arrived))
    try:
        # How many workers run is known only from who answers the PING, so that takes the whole wait_s.
        await asyncio.sleep(wait_s)
        # Each of them lists its models too: wait until all have, or until the time is up.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LISTS_WAIT_S - wait_s
        while len(answers) < len(pings) and (left := deadline - loop.time()) > 0:
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), left)
    finally:
        for sub in subs:
            await sub.unsubscribe()
    defaults: list[tuple[str, str]] = []
    for data in pings:
        with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
            metadata = json.loads(data).get("metadata") or {}
            defaults.append((str(metadata["model"]), str(metadata.get("backend", ""))))
    lists: list[ModelList] = []
    for data in answers:
        with contextlib.suppress(DecodeError):
            lists.append(decode(ModelList, data))
    serving: dict[tuple[str, str], int] = {}
    default_models = {(listed.default, listed.backend) for listed in lists}
    for listed in lists:
        for model in listed.models:
            serving[(model, listed.backend)] = serving.get((model, listed.backend), 0) + 1
    # A worker that did not list its models in time still offers its default.
    if len(lists) < len(defaults):
        for model, backend in set(defaults):
            if not any(same_model(m, model) and b == backend for m, b in serving):
                serving[(model, backend)] = defaults.count((model, backend))
                default_models.add((model, backend))
    return sorted(
        WorkerModel(model, backend, n, (model, backend) in default_models) for (model, backend), n in serving.items()
    )
