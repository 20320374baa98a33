"""The whole stack as separate processes (tests/support/stack.py), with the means to strike at it: SIGKILL a
service or nats-server and start it again, SIGSTOP and SIGCONT one, find the worker holding a run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.natsconf import locked_down, violations
from tests.faults.clients import Conversation, names, until
from tests.faults.ollama import Answer, ScriptedOllama, serving
from tests.support.stack import Service, Stack, free_port

ACK_WAIT_S = 2.0  # a run whose worker died goes to another after this (the default is 15 s)
READY = {"crud": "crud ready", "llm_worker": "llm_worker ready"}


@dataclass
class FaultStack(Stack):
    """nats-server (with deploy/nats's users and permissions), crud, llm workers on the scripted Ollama,
    and a gateway; each one restartable."""

    ollama_url: str = ""
    modules: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)
    refusals: list[str] = field(default_factory=list)

    def up(
        self, workers: int = 2, worker_env: dict[str, str] | None = None, gateway_env: dict[str, str] | None = None
    ) -> None:
        """Start everything and wait until the gateway is healthy."""
        self.env |= {
            "LLM_BACKEND": "ollama",
            "OLLAMA_HOST": self.ollama_url,
            "OLLAMA_MODEL": "llama3.2",
            "LLM_ACK_WAIT_S": str(ACK_WAIT_S),
        }
        self.base.mkdir(parents=True, exist_ok=True)
        # Locked down as `make run` runs it: each service on its own NATS user, refusals logged.
        self.secure = True
        self.nats = locked_down(self.base)
        self.nats.start()
        self.port = free_port()
        # All at once, as honcho starts them: the gateway and the workers wait for crud's streams.
        started = [self.launch("crud", "services.crud", {}, wait=False)]
        started += [
            self.launch(f"llm_worker{n}", "services.llm_worker", worker_env or {}, wait=False) for n in range(workers)
        ]
        gateway = {"GATEWAY_PORT": str(self.port)} | (gateway_env or {})
        started.append(self.launch("gateway", "services.gateway", gateway, wait=False))
        for service in started:
            self.ready(service)

    def launch(self, name: str, module: str, extra: dict[str, str], wait: bool = True) -> Service:
        """Start one service (again, after it was killed: its earlier log is kept as NAME.N.log) and wait
        until it is ready."""
        log = self.base / f"{name}.log"
        if log.exists():
            n = 1 + sum(1 for _ in self.base.glob(f"{name}.*.log"))
            log.rename(self.base / f"{name}.{n}.log")
        self.modules[name] = (module, extra)
        service = self.spawn(name, module, extra)
        if wait:
            self.ready(service)
        return service

    def ready(self, service: Service) -> None:
        if service.name == "gateway":
            self.wait_healthy(60)
        else:
            service.wait_for_line(READY[self.modules[service.name][0].rsplit(".", 1)[-1]], 60)

    def service(self, name: str) -> Service:
        return next(s for s in reversed(self.services) if s.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up, no goodbye."""
        proc = self.service(name).proc
        proc.kill()
        proc.wait()
        self.frozen.discard(name)

    def restart(self, name: str) -> Service:
        module, extra = self.modules[name]
        return self.launch(name, module, extra)

    def freeze(self, name: str) -> None:
        os.kill(self.service(name).proc.pid, signal.SIGSTOP)
        self.frozen.add(name)

    def thaw(self, name: str) -> None:
        os.kill(self.service(name).proc.pid, signal.SIGCONT)
        self.frozen.discard(name)

    def refused(self) -> list[str]:
        """Every permission refusal nats-server logged, across its restarts."""
        assert self.nats is not None
        return self.refusals + violations(self.nats.store_dir / "nats.log")

    def kill_nats(self) -> None:
        assert self.nats is not None and self.nats.proc is not None
        self.refusals = self.refused()  # a start begins a new log
        self.nats.proc.kill()
        self.nats.proc.wait()
        self.nats.proc = None

    def start_nats(self) -> None:
        """nats-server again on its port, with its store (JetStream keeps what it had)."""
        assert self.nats is not None
        self.nats.start()

    def holder(self, run_id: str) -> str:
        """The worker that took the run last (from the workers' logs: which process to strike)."""
        latest, holder = -1.0, ""
        for name in self.modules:
            if not name.startswith("llm_worker"):
                continue
            log = self.base / f"{name}.log"
            for found in re.finditer(rf"^(\S+ \S+) INFO \S+: run {run_id}: attempt", log.read_text(), re.MULTILINE):
                at = time.mktime(time.strptime(found.group(1).split(",")[0], "%Y-%m-%d %H:%M:%S"))
                if at >= latest:
                    latest, holder = at, name
        assert holder, f"no worker has taken run {run_id}"
        return holder

    def log_has(self, name: str, text: str) -> bool:
        return text in (self.base / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for name in list(self.frozen):
            self.thaw(name)  # a stopped process would not hear SIGTERM
        super().stop()


@asynccontextmanager
async def running(
    base: Path,
    answer: Answer,
    delay_s: float = 0.0,
    workers: int = 2,
    worker_env: dict[str, str] | None = None,
    gateway_env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[FaultStack, ScriptedOllama]]:
    """The stack on the scripted Ollama, stopped at the end (a frozen process is thawed first). The
    blocking parts run in a thread: the fake answers from this event loop meanwhile."""
    async with serving(answer, delay_s) as fake:
        stack = FaultStack(base, ollama_url=fake.url)
        try:
            await asyncio.to_thread(stack.up, workers, worker_env, gateway_env)
            yield stack, fake
            assert stack.refused() == [], "a service was refused something on NATS"
        finally:
            await asyncio.to_thread(stack.stop)


async def kill_its_worker_after(stack: FaultStack, chat: Conversation, first: list[str]) -> None:
    """Run the chat; once the list is `first` (what the first attempt applied), SIGKILL the worker that holds
    the run. The run must then be finished by another worker."""
    talking = asyncio.create_task(chat.run())

    async def applied() -> bool:
        return await names(stack.url) == first

    await until(applied, "the first command applied")
    assert chat.run_id is not None
    await asyncio.to_thread(stack.kill, stack.holder(chat.run_id))
    await talking
    assert chat.end is not None and chat.end["type"] == "RUN_FINISHED", chat.end
