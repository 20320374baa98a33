"""Which llm workers are running and which models they answer with, from their nats.micro PING replies."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proto import subjects
from services.gateway.app import gateway_of

GATHER_S = 0.3  # replies from every worker on this bus come well within this


@dataclass(frozen=True, order=True)
class WorkerModel:
    """A model some running worker answers with by default, and the backend serving it."""

    model: str
    backend: str
    workers: int


async def worker_models(nc: Client, wait_s: float = GATHER_S) -> list[WorkerModel]:
    """Every worker's model, by asking all of them at once and collecting the replies for `wait_s`."""
    replies: list[dict[str, str]] = []

    async def collect(msg: Msg) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            metadata = json.loads(msg.data).get("metadata") or {}
            replies.append({"model": str(metadata["model"]), "backend": str(metadata.get("backend", ""))})

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(subjects.service_ping(subjects.WORKER_SERVICE), b"", reply=inbox)
        await asyncio.sleep(wait_s)
    finally:
        await sub.unsubscribe()
    counted: dict[tuple[str, str], int] = {}
    for reply in replies:
        key = (reply["model"], reply["backend"])
        counted[key] = counted.get(key, 0) + 1
    return sorted(WorkerModel(model, backend, n) for (model, backend), n in counted.items())


async def models(request: Request) -> Response:
    """`GET /api/models`: the models the running workers answer with (empty when none runs)."""
    gateway = gateway_of(request)
    if not gateway.nc.is_connected:
        return JSONResponse({"error": "The message bus is not connected."}, status_code=503)
    return JSONResponse([asdict(m) for m in await worker_models(gateway.nc)])
