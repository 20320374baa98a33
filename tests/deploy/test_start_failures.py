"""A service that cannot start exits non-zero and says why, as a process: no nats-server to reach, a
password NATS refuses, no JetStream, a stream nothing can be published to. None of them hangs."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest

from proto import subjects
from proto.streams import STREAMS
from tests.deploy.natsconf import locked_down
from tests.support.natsd import NatsServer, nats_server_binary
from tests.support.stack import ROOT, free_port

MODULES = ("services.crud", "services.llm_worker", "services.gateway")
NATS_WAIT_S = 30  # proto.bus.connect's wait for a server at start


@dataclasses.dataclass
class Ended:
    returncode: int
    output: str
    took_s: float


def start(module: str, nats_url: str, data: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CRUD_", "LLM_", "OLLAMA_"))}
    env |= {
        "NATS_URL": nats_url,
        "DATA_DIR": str(data),
        "PYTHONUNBUFFERED": "1",
        "LLM_BACKEND": "scripted",  # no model to load: the start fails before one would be
        "GATEWAY_PORT": str(free_port()),
    }
    return subprocess.Popen(
        [sys.executable, "-m", module], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def ended(proc: subprocess.Popen[str], timeout: float) -> Ended:
    started = time.monotonic()
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"still running after {timeout:.0f} s:\n{output[-3000:]}") from None
    return Ended(proc.returncode, output, time.monotonic() - started)


@pytest.mark.slow
def test_without_nats_each_service_gives_up_after_its_wait_and_says_why(tmp_path: Path) -> None:
    nowhere = f"nats://someone:secret-password@127.0.0.1:{free_port()}"
    procs = {module: start(module, nowhere, tmp_path / module) for module in MODULES}
    for module, proc in procs.items():
        result = ended(proc, NATS_WAIT_S + 20)
        assert result.returncode != 0, (module, result.output[-2000:])
        assert "did not answer within 30 s" in result.output and "is nats-server running?" in result.output, module
        assert "secret-password" not in result.output, "the password never reaches a log"
        # One line while it waits, not one per attempt.
        assert result.output.count("waiting for NATS") == 1, (module, result.output[-2000:])


def test_a_password_nats_refuses_ends_the_start_at_once(tmp_path: Path) -> None:
    server = locked_down(tmp_path / "nats")
    server.start()
    try:
        wrong = f"nats://crud:not-the-password@127.0.0.1:{server.port}"
        procs = {module: start(module, wrong, tmp_path / module) for module in MODULES}
        for module, proc in procs.items():
            result = ended(proc, 20)
            assert result.returncode != 0, (module, result.output[-2000:])
            assert "refused this user or password" in result.output, (module, result.output[-2000:])
            assert result.took_s < 15, module
    finally:
        server.stop()


def test_crud_without_jetstream_exits_with_the_reason(tmp_path: Path) -> None:
    log = tmp_path / "nats.log"
    port = free_port()
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-l", str(log)])
    try:
        deadline = time.monotonic() + 10
        while not (log.exists() and "Server is ready" in log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        result = ended(start("services.crud", f"nats://127.0.0.1:{port}", tmp_path / "data"), 40)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result.returncode == 1, result.output[-2000:]
    assert "crud cannot start: JetStream did not answer to create the CHAT_RUNS stream" in result.output
    assert "Traceback" not in result.output


async def test_crud_exits_with_the_reason_when_a_stream_is_sealed(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        admin = await nats.connect(server.url)
        ui = next(s for s in STREAMS if s.name == subjects.UI_STREAM)
        await admin.jetstream().add_stream(ui)
        await admin.jetstream().update_stream(dataclasses.replace(ui, sealed=True))
        await admin.close()
        proc = start("services.crud", server.url, tmp_path / "data")
        result = await asyncio.to_thread(ended, proc, 30)
    finally:
        server.stop()
    assert result.returncode == 1, result.output[-2000:]
    assert "crud cannot start: the UI stream cannot carry ghostbus's messages" in result.output
    assert "sealed" in result.output and result.took_s < 15
