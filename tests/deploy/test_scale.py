"""Production settings without Docker: nats-server locked down, crud, a gateway and three workers as
processes; runs sent through the gateway spread over all three workers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import websockets

from services.llm_worker.backends.embedded import model_path
from tests.stack import ROOT, Stack

RUNS = 9


async def one_run(url: str, n: int) -> str:
    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        await ws.send(json.dumps({"type": "chat", "text": f"add item {n}"}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] in ("RUN_FINISHED", "RUN_ERROR"):
                return str(message["type"])


async def test_runs_spread_over_three_workers(tmp_path: Path) -> None:
    models = tmp_path / "models"
    model_path(models)
    stack = Stack(tmp_path / "stack", env={"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models)})
    stack.secure = True
    stack.start(workers=3)
    try:
        outcomes = await asyncio.gather(*(one_run(stack.url, n) for n in range(RUNS)))
        assert outcomes == ["RUN_FINISHED"] * RUNS
        taken = {s.name: s.output().count(": attempt 1:") for s in stack.services if s.name.startswith("llm_worker")}
        assert sum(taken.values()) == RUNS and all(count > 0 for count in taken.values()), taken
        assert stack.nats is not None
        env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
        healthy = subprocess.run(
            [sys.executable, "-m", "proto.health", "crud"],
            cwd=ROOT,
            env=env | {"NATS_URL": stack.service_url("services.crud")},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        nobody = subprocess.run(
            [sys.executable, "-m", "proto.health", "llm_worker"],
            cwd=ROOT,
            env=env | {"NATS_URL": stack.service_url("services.crud")},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert nobody.returncode == 1, "crud's user may not ping the workers"
    finally:
        stack.stop()
