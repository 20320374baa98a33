"""`make run-cluster` rehearsed: honcho starts Procfile.cluster as it is, with deploy/nats/cluster-N.conf as they
are (only their ports moved, so the test never meets a stack already running here): three nats-servers, crud,
two workers, two gateways on GATEWAY_PORT and GATEWAY_PORT + 1; a chat through each gateway, the same list from
both, and Ctrl-C stops every process cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.deploy.natsconf import DEPLOY, around, violations
from tests.deploy.test_make_run import chat, wait_healthy, wait_workers_ready
from tests.support.stack import ROOT, free_port

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

NODES = (1, 2, 3)


def two_free_ports() -> int:
    """A port p with p and p + 1 both free (the two gateways)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def workdir(base: Path) -> Path:
    """A copy of what `make run-cluster` reads, its code linked in, with every nats port moved."""
    (base / "deploy" / "nats").mkdir(parents=True)
    for part in ("local-users.conf", "permissions.conf"):
        shutil.copy(DEPLOY / part, base / "deploy" / "nats" / part)
    ports = {old + n - 1: free_port() for old in (4222, 6222, 8222) for n in NODES}

    def ported(text: str) -> str:
        for old, new in ports.items():
            text = re.sub(rf"(?<![\d.]){old}(?!\d)", str(new), text)
        return text

    for n in NODES:
        conf = (DEPLOY / f"cluster-{n}.conf").read_text()
        assert f"port: {4222 + n - 1}" in conf and f"http_port: {8222 + n - 1}" in conf, "update this test"
        (base / "deploy" / "nats" / f"cluster-{n}.conf").write_text(ported(conf))
    procfile = (ROOT / "Procfile.cluster").read_text()
    assert all(f"@127.0.0.1:{old}" in procfile for old in (4222, 4223, 4224)), "update this test"
    (base / "Procfile.cluster").write_text(ported(procfile))
    for linked in ("proto", "services", "node_modules"):
        (base / linked).symlink_to(ROOT / linked)
    return base


@pytest.mark.timeout(240)
async def test_make_run_cluster_starts_three_nodes_two_workers_and_two_gateways(tmp_path: Path) -> None:
    base = workdir(tmp_path / "run")
    port = two_free_ports()
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CRUD_", "LLM_", "OLLAMA_", "NATS_"))}
    env |= {"PATH": f"{bin_dir}:{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1", "GATEWAY_PORT": str(port)}
    # The scripted backend: a short answer and one command each, no model to load.
    env |= {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "20", "LLM_SCRIPT_COMMANDS": "1"}
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        honcho = subprocess.Popen(
            [f"{bin_dir}/honcho", "start", "-f", "Procfile.cluster", "-c", "llm_worker=2"],
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    urls = [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
    try:
        for url in urls:
            await asyncio.to_thread(wait_healthy, url, honcho, log, 120)
        await asyncio.to_thread(wait_workers_ready, log, 2, 60)
        assert list(await asyncio.gather(*(chat(url, "go") for url in urls))) == ["RUN_FINISHED"] * 2
        async with httpx.AsyncClient(timeout=30) as client:
            lists = [(await client.get(url + "/api/tasks")).json() for url in urls]
        assert len(lists[0]) == 2 and lists[0] == lists[1], lists
        honcho.send_signal(signal.SIGINT)  # Ctrl-C
    finally:
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(honcho.wait, 30)
        except subprocess.TimeoutExpired:
            honcho.kill()
            honcho.wait()
    output = log.read_text(errors="replace")
    stopped = dict(re.findall(r"^\S+ system +\| (\S+) stopped \(rc=(-?\d+)\)", output, re.M))
    names = {"nats1.1", "nats2.1", "nats3.1", "crud.1", "llm_worker.1", "llm_worker.2", "gateway1.1", "gateway2.1"}
    assert set(stopped) == names, output[-4000:]
    assert all(rc in ("0", "-15") for rc in stopped.values()), stopped
    assert "SIGKILL" not in output and "Traceback" not in output, output[-4000:]
    assert all((base / "var" / "nats-cluster" / str(n) / "jetstream").is_dir() for n in NODES)
    found = violations(log)
    assert found == [], around(log, found)
