"""NATS locked down as deploy/nats configures it: the whole stack works with one user per service,
and a service connected with another's permissions is refused what is not its job."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
import websockets

from proto import subjects
from services.llm_worker.backends.embedded import model_path
from tests.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    models = tmp_path_factory.getbasetemp() / "e2e-models"
    model_path(models)
    running = Stack(tmp_path_factory.mktemp("secure"), env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models)})
    running.secure = True
    running.start(workers=1)
    yield running
    running.stop()


def violations(stack: Stack) -> list[str]:
    assert stack.nats is not None
    log = (stack.nats.store_dir / "nats.log").read_text(errors="replace")
    return [line for line in log.splitlines() if "Permissions Violation" in line]


async def test_the_stack_runs_a_chat_with_every_service_on_its_own_user(stack: Stack) -> None:
    async with websockets.connect(stack.url.replace("http://", "ws://") + "/ws") as ws:
        await ws.send(json.dumps({"type": "chat", "text": "add apples"}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message["type"] in ("RUN_FINISHED", "RUN_ERROR", "error"):
                break
    assert message["type"] == "RUN_FINISHED", message
    async with (
        httpx.AsyncClient(base_url=stack.url) as client,
        client.stream("GET", "/events", headers={"Last-Event-ID": "0"}, timeout=10) as events,
    ):
        async for line in events.aiter_lines():
            if line.startswith("data:"):
                assert "apples" in line
                break
        listed = await client.get("/api/tasks")
    assert [t["name"] for t in listed.json()] == ["apples"]
    assert violations(stack) == []


async def connect_as(stack: Stack, user: str) -> tuple[nats.NATS, list[str]]:
    assert stack.nats is not None
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    url = f"nats://{user}:{user}-local@127.0.0.1:{stack.nats.port}"
    return await nats.connect(url, error_cb=on_error, max_reconnect_attempts=0), errors


async def wait_for(errors: list[str], text: str) -> None:
    async with asyncio.timeout(5):
        while not any(text in e for e in errors):
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("user", "action", "subject"),
    [
        ("gateway", "publish", "ui.task.created"),
        ("gateway", "subscribe", "crud.>"),
        ("gateway", "subscribe", "ui.>"),
        ("gateway", "publish", "chat.events.x"),
        ("llm_worker", "publish", "ui.task.deleted"),
        ("llm_worker", "subscribe", "crud.task.create"),
        ("llm_worker", "publish", "$JS.API.STREAM.DELETE.UI"),
        ("crud", "publish", "chat.submit"),
    ],
)
async def test_a_service_is_refused_what_is_not_its_job(stack: Stack, user: str, action: str, subject: str) -> None:
    nc, errors = await connect_as(stack, user)
    try:
        if action == "publish":
            await nc.publish(subject, b"{}")
        else:
            await nc.subscribe(subject)
        await nc.flush()
        await wait_for(errors, "permissions violation")
        assert subject.lower() in " ".join(errors).lower()
    finally:
        await nc.close()


# nats-py leaves the socket of a refused connection for the garbage collector; collect it here so the
# warning is not reported against whichever test happens to run next.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_a_wrong_password_is_refused(stack: Stack) -> None:
    assert stack.nats is not None
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    url = f"nats://crud:wrong@127.0.0.1:{stack.nats.port}"
    with pytest.raises((nats.errors.Error, OSError)):
        async with asyncio.timeout(10):
            await nats.connect(url, allow_reconnect=False, connect_timeout=2, error_cb=on_error)
    assert any("authorization" in e.lower() for e in errors), errors
    gc.collect()


def test_compose_and_make_run_use_the_same_permissions(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent.parent / "deploy" / "nats"
    assert 'include "permissions.conf"' in (root / "server.conf").read_text()
    assert 'include "permissions.conf"' in (root / "local-users.conf").read_text()
    assert 'include "local-users.conf"' in (root / "local.conf").read_text()
    assert subjects.UI_ALL in (root / "permissions.conf").read_text()
