"""compose.yaml rehearsed without Docker: each profile's services run as processes with exactly the
environment compose would give them (interpolated from compose.yaml), nats-server with server.conf and
its passwords from the environment, each service started once its dependencies pass their own compose
health check; then a person chats through the gateway. Only what a container network provides is
mapped: the host names `nats` and `ollama`, the /data volumes, the gateway's port. Ollama and the cloud
endpoint are the local stand-ins of tests/llm_worker, speaking their real wire formats."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
import yaml

from tests.deploy.natsconf import COMPOSE_PASSWORDS, ComposeNats, violations
from tests.support import fake_ollama, fake_openai
from tests.support.stack import ROOT, free_port

TOKEN = "a-test-access-token"
OPENAI_KEY = "sk-test"
SECRETS = {var: f"{var.lower()}-value" for var in COMPOSE_PASSWORDS.values()}
# Foreign images: nats runs from deploy/nats here, Ollama is replaced by the stand-in.
FOREIGN = {"nats", "ollama", "ollama-pull"}
SETTING_PREFIXES = ("GATEWAY_", "CRUD_", "LLM_", "OLLAMA_", "OPENAI_", "NATS_", "DATA_DIR")

pytestmark = pytest.mark.slow


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}` (unset or empty), `$$`."""

    def one(found: re.Match[str]) -> str:
        name, kind, arg = found.group(1), found.group(2), found.group(3) or ""
        if name is None:
            return "$"
        have = env.get(name, "")
        if kind == ":-" and not have:
            return arg
        if kind == ":?" and not have:
            raise MissingVariable(f"{name}: {arg}")
        return have

    return re.sub(r"\$\$|\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def active(profile: str) -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile PROFILE up` starts."""
    services: dict[str, dict[str, Any]] = compose()["services"]
    return {n: s for n, s in services.items() if not s.get("profiles") or profile in s["profiles"]}


def start_order(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Ours, each after every service it depends on."""
    done: list[str] = []

    def visit(name: str) -> None:
        for dependency in services[name].get("depends_on", {}):
            if dependency not in FOREIGN and dependency not in done:
                visit(dependency)
        if name not in done:
            done.append(name)

    for name in services:
        if name not in FOREIGN:
            visit(name)
    return done


@dataclass
class Rehearsal:
    """One profile's services as processes, wired as the compose network would wire them."""

    base: Path
    profile: str
    shell: dict[str, str]  # the environment `docker compose up` is run from
    ollama_url: str = ""
    nats: ComposeNats | None = None
    gateway_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def environment(self, name: str, spec: Mapping[str, Any]) -> dict[str, str]:
        assert self.nats is not None
        env = {k: interpolate(str(v), self.shell) for k, v in (spec.get("environment") or {}).items()}
        env = {k: v.replace("@nats:4222", f"@127.0.0.1:{self.nats.port}") for k, v in env.items()}
        env = {k: v.replace("http://ollama:11434", self.ollama_url) for k, v in env.items()}
        if env.get("DATA_DIR") == "/data":
            env["DATA_DIR"] = str(self.base / f"{name}-data")
        if name == "gateway":
            env |= {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(self.gateway_port)}
        clean = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
        return clean | {"PYTHONUNBUFFERED": "1"} | env

    def argv(self, words: list[str]) -> list[str]:
        words = [w.replace("127.0.0.1:8000", f"127.0.0.1:{self.gateway_port}") for w in words]
        return [sys.executable, *words[1:]] if words[0] == "python" else words

    async def healthy(self, name: str, spec: Mapping[str, Any], env: dict[str, str], timeout: float) -> None:
        kind, *words = spec["healthcheck"]["test"]
        assert kind == "CMD", name
        deadline = time.monotonic() + timeout
        while True:
            check = await asyncio.create_subprocess_exec(
                *self.argv(words), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if await check.wait() == 0:
                return
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                log = (self.base / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{name} never passed its health check:\n{log}")
            await asyncio.sleep(0.3)

    async def up(self) -> None:
        services = active(self.profile)
        nats_env = {k: interpolate(str(v), self.shell) for k, v in services["nats"]["environment"].items()}
        passwords = {user: nats_env[var] for user, var in COMPOSE_PASSWORDS.items()}
        self.nats = ComposeNats(self.base / "nats", passwords)
        self.nats.start()
        for name in start_order(services):
            spec = services[name]
            env = self.environment(name, spec)
            with (self.base / f"{name}.log").open("wb") as log:
                self.procs[name] = subprocess.Popen(
                    self.argv(spec["command"]), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            await self.healthy(name, spec, env, timeout=60)

    def down(self) -> None:
        for proc in reversed(self.procs.values()):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.nats is not None:
            self.nats.stop()

    def leaks(self, secrets: Mapping[str, str]) -> set[tuple[str, str]]:
        """(service, secret) for each secret's value found in a service's output."""
        found = set()
        for name in self.procs:
            log = (self.base / f"{name}.log").read_text(errors="replace")
            found |= {(name, var) for var, value in secrets.items() if value in log}
        return found

    async def chat(self, text: str) -> dict[str, Any]:
        url = f"ws://127.0.0.1:{self.gateway_port}/ws"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "chat", "text": text}))
            async with asyncio.timeout(60):
                while True:
                    message: dict[str, Any] = json.loads(await ws.recv())
                    if message["type"] in ("RUN_FINISHED", "RUN_ERROR", "error"):
                        return message

    async def tasks(self) -> list[str]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.gateway_port}", headers=headers) as client:
            return [task["name"] for task in (await client.get("/api/tasks")).json()]


@asynccontextmanager
async def rehearsed(base: Path, profile: str, shell: dict[str, str], ollama_url: str = "") -> AsyncIterator[Rehearsal]:
    stack = Rehearsal(base, profile, shell, ollama_url)
    try:
        await stack.up()
        yield stack
    finally:
        await asyncio.to_thread(stack.down)


def test_interpolation_follows_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}/${EMPTY:-d}/${UNSET:-d}/${SET}/$$HOME", env) == "x/d/d/x/$HOME"
    with pytest.raises(MissingVariable, match="EMPTY: say so"):
        interpolate("${EMPTY:?say so}", env)


def environments(profile: str, shell: Mapping[str, str]) -> None:
    """Interpolate every environment `docker compose --profile PROFILE up` would give its services."""
    for spec in active(profile).values():
        for value in (spec.get("environment") or {}).values():
            interpolate(str(value), shell)


@pytest.mark.parametrize("profile", ["local", "embedded", "cloud"])
def test_compose_needs_each_secret_from_the_environment_and_no_other(profile: str) -> None:
    # OPENAI_API_KEY is not among them: compose interpolates every profile's services, so a required key
    # would stop the other profiles too; the cloud worker itself refuses to start without it (below).
    secrets = [*SECRETS, "GATEWAY_ACCESS_TOKEN"]
    shell = {secret: "x" for secret in secrets}
    environments(profile, shell)
    for secret in secrets:
        with pytest.raises(MissingVariable, match=secret):
            environments(profile, {k: v for k, v in shell.items() if k != secret})


async def test_the_local_profile_runs_a_chat_on_ollama(tmp_path: Path) -> None:
    fake = fake_ollama.FakeOllama(['{"op": "create", "name": "{item}"}\n', "Added ", "it."])
    shell = SECRETS | {"GATEWAY_ACCESS_TOKEN": TOKEN}
    async with fake_ollama.serving(fake) as ollama, rehearsed(tmp_path, "local", shell, ollama.url) as stack:
        assert set(stack.procs) == {"crud", "llm_worker", "gateway"}
        finished = await stack.chat("please add item 1")
        assert finished["type"] == "RUN_FINISHED", finished
        assert await stack.tasks() == ["item 1"]
        assert fake.requests and fake.requests[0]["model"].startswith("llama3.2")
    assert stack.nats is not None and violations(stack.nats.log) == []
    assert stack.leaks(shell) == set(), "no secret in a log line"


def test_the_cloud_worker_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    spec = active("cloud")["llm_worker_cloud"]
    shell = SECRETS | {"GATEWAY_ACCESS_TOKEN": TOKEN}  # no OPENAI_API_KEY: compose gives the worker ""
    env = {k: interpolate(str(v), shell) for k, v in spec["environment"].items()}
    assert env["OPENAI_API_KEY"] == ""
    env["DATA_DIR"] = str(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    started = subprocess.run(
        [sys.executable, "-m", "services.llm_worker"], cwd=ROOT, env=clean | env, capture_output=True, timeout=60
    )
    said = started.stderr.decode(errors="replace")
    assert started.returncode != 0 and "LLM_BACKEND=openai needs OPENAI_API_KEY" in said, said[-2000:]
    assert SECRETS["NATS_WORKER_PASSWORD"] not in said, "the refusal does not show NATS_URL's password"


async def test_the_embedded_profile_runs_a_chat_offline(tmp_path: Path) -> None:
    shell = SECRETS | {"GATEWAY_ACCESS_TOKEN": TOKEN}
    async with rehearsed(tmp_path, "embedded", shell) as stack:
        assert set(stack.procs) == {"crud", "llm_worker_embedded", "gateway"}
        finished = await stack.chat("add apples")
        assert finished["type"] == "RUN_FINISHED", finished
        assert await stack.tasks() == ["apples"]
    assert stack.nats is not None and violations(stack.nats.log) == []
    assert stack.leaks(shell) == set(), "no secret in a log line"


async def test_the_cloud_profile_swaps_only_the_worker_for_an_openai_compatible_model(tmp_path: Path) -> None:
    turns = [
        fake_openai.Turn(calls=[("create", ['{"name": "item 2"}'])]),
        fake_openai.Turn(text=["Added ", "item 2."]),
    ]
    async with fake_openai.serving(fake_openai.FakeOpenAI(turns, model="gpt-4o-mini", key=OPENAI_KEY)) as cloud:
        shell = SECRETS | {"GATEWAY_ACCESS_TOKEN": TOKEN, "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": cloud.url}
        async with rehearsed(tmp_path, "cloud", shell) as stack:
            assert set(stack.procs) == {"crud", "llm_worker_cloud", "gateway"}
            finished = await stack.chat("add item 2")
            assert finished["type"] == "RUN_FINISHED", finished
            assert await stack.tasks() == ["item 2"]
        assert cloud.requests and cloud.requests[0]["model"] == "gpt-4o-mini" and cloud.requests[0].get("tools")
    assert stack.nats is not None and violations(stack.nats.log) == []
    secrets = {k: v for k, v in shell.items() if k != "OPENAI_BASE_URL"}
    assert stack.leaks(secrets) == set(), "no secret in a log line"
