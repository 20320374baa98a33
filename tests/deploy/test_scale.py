"""Production settings without Docker: nats-server locked down, crud, a gateway and three workers as
processes, each its own NATS user; runs sent through the gateway spread over all three workers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import websockets

from services.llm_worker.backends.embedded import model_path
from tests.deploy.natsconf import violations
from tests.support.stack import ROOT, Stack

WORKERS = 3
RUNS = 9
# Three embedded models share this machine's cores: the first round of runs (no prompt cache yet)
# is the slow one. The whole batch must finish within this.
BUDGET_S = 100.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("scale")
    models = base / "models"
    model_path(models)  # assembled once, shared by the three workers
    # One thread each, as the README advises for several workers on one machine: three models of two
    # threads on two cores spin at llama.cpp's thread barriers and take minutes instead of seconds.
    env = {"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models), "LLM_THREADS": "1"}
    running = Stack(base / "stack", env=env)
    running.secure = True
    running.start(workers=WORKERS)
    yield running
    running.stop()


async def one_run(url: str, n: int) -> tuple[str, str]:
    """Send one chat message through the gateway's WebSocket; its run id and how the run ended."""
    run_id = ""
    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        await ws.send(json.dumps({"type": "chat", "text": f"add item {n}"}))
        while True:
            message = json.loads(await ws.recv())
            run_id = message.get("runId") or run_id
            if message["type"] in ("RUN_FINISHED", "RUN_ERROR", "error"):
                return run_id, str(message["type"])


def runs_taken(stack: Stack) -> dict[str, list[str]]:
    """The runs each worker started, from its log (`run <id>: attempt 1: ...`)."""
    return {
        s.name: re.findall(r"run (\w+): attempt 1:", s.output()) for s in stack.services if s.name.startswith("llm_")
    }


def health(stack: Stack, service: str, as_module: str) -> int:
    """`python -m proto.health SERVICE` (the compose health check) as another service's NATS user."""
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["NATS_URL"] = stack.service_url(as_module)
    done = subprocess.run(
        [sys.executable, "-m", "proto.health", service], cwd=ROOT, env=env, capture_output=True, timeout=30
    )
    return done.returncode


@pytest.mark.timeout(BUDGET_S + 60)  # and the stack's start
async def test_runs_spread_over_three_workers(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET_S):
        outcomes = await asyncio.gather(*(one_run(stack.url, n) for n in range(RUNS)))
    assert [end for _, end in outcomes] == ["RUN_FINISHED"] * RUNS, outcomes
    taken = runs_taken(stack)
    assert len(taken) == WORKERS and all(taken.values()), taken
    started = sorted(run for runs in taken.values() for run in runs)
    assert started == sorted(run for run, _ in outcomes), "each run started once, on one worker"
    assert stack.nats is not None
    assert violations(stack.nats.store_dir / "nats.log") == []


def test_the_compose_health_checks_answer_as_each_services_own_user(stack: Stack) -> None:
    assert health(stack, "crud", "services.crud") == 0
    assert health(stack, "llm_worker", "services.llm_worker") == 0
    assert health(stack, "llm_worker", "services.crud") == 1, "crud's user may not ping the workers"
