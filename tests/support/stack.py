"""The whole ghostbus stack as real processes, as `make run` starts it, for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.natsd import NatsServer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """One service process with its output captured to a log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.output()[-4000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not print {text!r} in {timeout}s:\n{self.output()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@dataclass
class Stack:
    """nats-server, crud, llm workers and a gateway, each a process, sharing one data dir."""

    base: Path
    env: dict[str, str] = field(default_factory=dict)
    secure: bool = False  # nats-server with the users and permissions of deploy/nats, each service its own
    nats: NatsServer | None = None
    services: list[Service] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        assert self.nats is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CRUD_", "LLM_", "OLLAMA_"))}
        env |= {
            "NATS_URL": self.nats.url,
            "DATA_DIR": str(self.base / "data"),
            "PYTHONUNBUFFERED": "1",
            "OLLAMA_HOST": "http://127.0.0.1:9",
        }
        return env | self.env | extra

    def service_url(self, module: str) -> str:
        """NATS_URL for a service: with its own user and password when the server is locked down."""
        assert self.nats is not None
        if not self.secure:
            return self.nats.url
        user = module.rsplit(".", 1)[-1]
        return f"nats://{user}:{user}-local@127.0.0.1:{self.nats.port}"

    def spawn(self, name: str, module: str, extra: dict[str, str] | None = None) -> Service:
        log = self.base / f"{name}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=ROOT,
                env=self._env({"NATS_URL": self.service_url(module)} | (extra or {})),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = Service(name, proc, log)
        self.services.append(service)
        return service

    def start(self, workers: int = 1, worker_env: dict[str, str] | None = None) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        config = None
        if self.secure:
            # nats-server resolves includes relative to the including file only: copy them beside it.
            for part in ("local-users.conf", "permissions.conf"):
                shutil.copy(ROOT / "deploy" / "nats" / part, self.base / part)
            config = self.base / "nats.conf"
            config.write_text('include "local-users.conf"\n')
        self.nats = NatsServer(self.base / "nats", config=config)
        self.nats.start()
        self.spawn("crud", "services.crud").wait_for_line("crud ready", 30)
        for n in range(workers):
            self.spawn(f"llm_worker{n}", "services.llm_worker", worker_env).wait_for_line("llm_worker ready", 120)
        self.port = free_port()
        self.spawn("gateway", "services.gateway", {"GATEWAY_PORT": str(self.port)})
        self.wait_healthy(30)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway not healthy:\n" + "\n".join(s.output()[-2000:] for s in self.services))

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        if self.nats is not None:
            self.nats.stop()
