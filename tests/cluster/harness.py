"""The stack on a three-node cluster as `make run-cluster` starts it: crud (streams at three replicas), two
workers on the scripted Ollama, two gateways, every service given the three nodes in NATS_URL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.harness import FaultStack
from tests.faults.ollama import Answer, ScriptedOllama, serving
from tests.support.cluster import Cluster
from tests.support.stack import Service, free_port

GATEWAYS = ("gateway1", "gateway2")


@dataclass
class ClusterStack(FaultStack):
    """FaultStack's services on a Cluster instead of one nats-server; `urls` has each gateway's address."""

    cluster: Cluster | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def url_of(self, gateway: str) -> str:
        return f"http://127.0.0.1:{self.ports[gateway]}"

    @property
    def urls(self) -> list[str]:
        return [self.url_of(g) for g in GATEWAYS]

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        assert self.cluster is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CRUD_", "LLM_", "OLLAMA_"))}
        env |= {"DATA_DIR": str(self.base / "data"), "PYTHONUNBUFFERED": "1", "STREAM_REPLICAS": "3"}
        return env | self.env | extra

    def service_url(self, module: str) -> str:
        assert self.cluster is not None
        return self.cluster.url(module.rsplit(".", 1)[-1])

    def up(
        self, workers: int = 2, worker_env: dict[str, str] | None = None, gateway_env: dict[str, str] | None = None
    ) -> None:
        # The scripted Ollama unless the caller chose another backend (the benchmarks: LLM_BACKEND=scripted).
        self.env = {
            "LLM_BACKEND": "ollama",
            "OLLAMA_HOST": self.ollama_url,
            "OLLAMA_MODEL": "llama3.2",
            # The default: a run's heartbeats are lost while the queue's leader is elected anew (seconds), and
            # a shorter wait would hand the run to the other worker while its first one still performs it.
            "LLM_ACK_WAIT_S": "15",
        } | self.env
        self.secure = True
        self.cluster = Cluster(self.base / "cluster")
        self.cluster.start()
        started = [self.launch("crud", "services.crud", {}, wait=False)]
        started += [
            self.launch(f"llm_worker{n}", "services.llm_worker", worker_env or {}, wait=False) for n in range(workers)
        ]
        for gateway in GATEWAYS:
            self.ports[gateway] = free_port()
            extra = {"GATEWAY_PORT": str(self.ports[gateway])} | (gateway_env or {})
            started.append(self.launch(gateway, "services.gateway", extra, wait=False))
        self.port = self.ports[GATEWAYS[0]]
        for service in started:
            self.ready(service)

    def ready(self, service: Service) -> None:
        if service.name in GATEWAYS:
            self.port, was = self.ports[service.name], self.port
            try:
                self.wait_healthy(60)
            finally:
                self.port = was
        else:
            super().ready(service)

    def refused(self) -> list[str]:
        assert self.cluster is not None
        return self.refusals + self.cluster.refused()

    def stop(self) -> None:
        self.nats = None
        try:
            super().stop()
        finally:
            if self.cluster is not None:
                self.cluster.stop()


@asynccontextmanager
async def running(
    base: Path, answer: Answer, delay_s: float = 0.0, workers: int = 2
) -> AsyncIterator[tuple[ClusterStack, ScriptedOllama]]:
    """The cluster stack on the scripted Ollama, stopped at the end."""
    async with serving(answer, delay_s) as fake:
        stack = ClusterStack(base, ollama_url=fake.url)
        try:
            await asyncio.to_thread(stack.up, workers)
            yield stack, fake
            assert stack.refused() == [], "a service was refused something on NATS"
        finally:
            await asyncio.to_thread(stack.stop)
