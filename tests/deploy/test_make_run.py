"""`make run` rehearsed: honcho starts the Procfile as it is, with deploy/nats/local.conf as it is (only
their ports moved, so the test never meets a stack already running on this machine), two workers
(`-c llm_worker=2`), each service on its own NATS user; a chat goes through, and Ctrl-C with a page
still open (its event stream and chat socket) stops every process cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
import websockets

from services.llm_worker.backends.embedded import model_path
from tests.deploy.natsconf import DEPLOY, around, violations
from tests.support.stack import ROOT, free_port

pytestmark = pytest.mark.slow


def moved(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is no longer there: update this test"
    return text.replace(old, new)


def workdir(base: Path, nats_port: int, monitor_port: int) -> Path:
    """A copy of what `make run` reads, its code linked in, so var/ is created here and not in the repo."""
    (base / "deploy" / "nats").mkdir(parents=True)
    for part in ("local-users.conf", "permissions.conf"):
        shutil.copy(DEPLOY / part, base / "deploy" / "nats" / part)
    local = (DEPLOY / "local.conf").read_text()
    local = moved(moved(local, "port: 4222", f"port: {nats_port}"), "http_port: 8222", f"http_port: {monitor_port}")
    (base / "deploy" / "nats" / "local.conf").write_text(local)
    procfile = moved((ROOT / "Procfile").read_text(), "@127.0.0.1:4222", f"@127.0.0.1:{nats_port}")
    (base / "Procfile").write_text(procfile)
    for linked in ("proto", "services", "node_modules"):
        (base / linked).symlink_to(ROOT / linked)
    return base


def wait_healthy(url: str, honcho: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if honcho.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError("the stack did not become healthy:\n" + log.read_text(errors="replace")[-4000:])


def wait_workers_ready(log: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            len(
                set(re.findall(r"^\S+ (llm_worker\.\d+) +\| .*llm_worker ready", log.read_text(errors="replace"), re.M))
            )
            >= count
        ):
            return
        time.sleep(0.1)
    raise AssertionError("the workers did not start:\n" + log.read_text(errors="replace")[-4000:])


async def chat(url: str, text: str) -> str:
    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        await ws.send(json.dumps({"type": "chat", "text": text}))
        async with asyncio.timeout(90):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] in ("RUN_FINISHED", "RUN_ERROR", "error"):
                    return str(message["type"]) if message["type"] != "error" else str(message)


@pytest.mark.timeout(180)
async def test_make_run_starts_the_procfile_with_two_workers_on_locked_down_nats(tmp_path: Path) -> None:
    models = tmp_path / "models"
    model_path(models)
    base = workdir(tmp_path / "run", free_port(), free_port())
    gateway_port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CRUD_", "LLM_", "OLLAMA_", "NATS_"))}
    # As the Makefile runs it: the virtualenv's nats-server and python first on PATH.
    env |= {"PATH": f"{bin_dir}:{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1", "GATEWAY_PORT": str(gateway_port)}
    env |= {"LLM_BACKEND": "embedded", "LLM_MODEL_DIR": str(models), "OLLAMA_HOST": "http://127.0.0.1:9"}
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        honcho = subprocess.Popen(
            [f"{bin_dir}/honcho", "start", "-f", "Procfile", "-c", "llm_worker=2"],
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        await asyncio.to_thread(wait_healthy, url, honcho, log, 90)
        # Both workers loading the model take longer than the gateway's answer to a run nobody can take.
        await asyncio.to_thread(wait_workers_ready, log, 2, 90)
        ends = await asyncio.gather(chat(url, "add apples"), chat(url, "add pears"))
        assert list(ends) == ["RUN_FINISHED"] * 2
        # A page left open: its event stream and its chat socket, both connected when Ctrl-C comes.
        async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", url + "/events") as events:
            async with websockets.connect(url.replace("http://", "ws://") + "/ws"):
                assert events.status_code == 200
                honcho.send_signal(signal.SIGINT)  # Ctrl-C
                async for _ in events.aiter_bytes():
                    pass  # the gateway ends the stream (the page would reconnect to the next one)
    finally:
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(honcho.wait, 30)
        except subprocess.TimeoutExpired:
            honcho.kill()
            honcho.wait()
    output = log.read_text(errors="replace")
    # Every process finishes its own shutdown (honcho sends SIGKILL to one still running after 5 s):
    # status 0, or uvicorn's way of ending once it has shut down, raising the SIGTERM again (-15).
    stopped = dict(re.findall(r"^\S+ system +\| (\S+) stopped \(rc=(-?\d+)\)", output, re.M))
    names = {"nats.1", "crud.1", "llm_worker.1", "llm_worker.2", "gateway.1"}
    assert stopped == dict.fromkeys(names, "0") | {"gateway.1": "-15"}, output[-4000:]
    assert "Application shutdown complete" in output, output[-4000:]
    assert "SIGKILL" not in output and "Traceback" not in output, output[-4000:]
    ready = set(re.findall(r"^\S+ (llm_worker\.\d+) +\| .*llm_worker ready", output, re.M))
    assert ready == {"llm_worker.1", "llm_worker.2"}, output[-3000:]
    assert (base / "var" / "nats").is_dir() and (base / "var" / "ghostbus.sqlite3").is_file()
    found = violations(log)  # nats-server logs to honcho's output
    assert found == [], around(log, found)
