"""What a worker tells the gateway's model picker: its backend's models, with the default among them."""

from __future__ import annotations

import asyncio
import logging

from proto.messages import ModelList, same_model
from services.llm_worker.backends.base import Backend

log = logging.getLogger(__name__)

MODELS_TIMEOUT_S = 1.5
MAX_LISTED = 400


async def listing(backend: Backend) -> ModelList:
    """The backend's models (its default alone when it cannot list them right now), the default named as
    the backend lists it."""
    default = backend.model
    try:
        async with asyncio.timeout(MODELS_TIMEOUT_S):
            listed = await backend.models()
    except Exception as error:  # noqa: BLE001 - a picker with the default still works
        log.warning("listing the backend's models failed: %r", error)
        listed = [default]
    listed = listed[:MAX_LISTED]
    named = next((m for m in listed if same_model(m, default)), None)
    if named is None:
        listed.append(default)
    return ModelList(backend=backend.name, default=named or default, models=sorted(set(listed)))
