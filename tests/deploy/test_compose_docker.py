"""compose.yaml for real: Compose v2 reads it for each profile with only that profile's secrets, and on a
Docker engine the local profile builds, starts healthy, chats, scales to three workers that share the runs,
keeps its tasks across a restart and leaves nothing behind after `down -v`.

The upstream images are pulled where Docker can pull, else stood in for (tests/docker/images.py); Ollama is
always the scripted stand-in of tests/docker/standin/ollama, speaking Ollama's HTTP API. Without an engine
or Compose v2 these tests are skipped, saying why (failed instead when GHOSTBUS_REQUIRE_DOCKER is set, as CI
does); `make test` starts an engine for the run when it is root and none answers (tests/docker/engine.sh).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.deploy.natsconf import COMPOSE_PASSWORDS, violations
from tests.docker import images
from tests.docker.compose import Project, compose_cli, engine_answers, secrets_of, unavailable, upstream_images
from tests.support.stack import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# what compose refuses to start without, whatever the profile
NEEDED = [*COMPOSE_PASSWORDS.values(), "GATEWAY_ACCESS_TOKEN"]
SINGLE = {"nats", "crud", "gateway"}
CLUSTER = {"nats_1", "nats_2", "nats_3", "crud_cluster", "gateway_1", "gateway_2"}
PROFILES = {
    "local": SINGLE | {"ollama", "ollama-pull", "llm_worker"},
    "embedded": SINGLE | {"llm_worker_embedded"},
    "cloud": SINGLE | {"llm_worker_cloud"},
    "cluster": CLUSTER | {"ollama", "ollama-pull", "llm_worker_cluster"},
}


@pytest.fixture(scope="module")
def cli() -> list[str]:
    found = compose_cli()
    if found is None:
        unavailable("no Compose v2 here (tests/docker/engine.sh compose fetches one)")
    assert found is not None
    return found


@pytest.mark.parametrize("profile", list(PROFILES))
def test_compose_reads_each_profile_with_only_the_secrets_it_needs(cli: list[str], profile: str) -> None:
    shell = {name: f"{name.lower()}-value" for name in NEEDED}
    project = Project(cli, "ghostbus", shell, profile, override=False)
    config = json.loads(project.run("config", "--format", "json").stdout)
    assert set(config["services"]) == PROFILES[profile]
    for name in NEEDED:
        lacking = Project(cli, "ghostbus", {k: v for k, v in shell.items() if k != name}, profile, override=False)
        refused = lacking.run("config", "--quiet", check=False)
        assert refused.returncode != 0 and name in refused.stderr, (name, refused.stderr)


def test_the_cloud_worker_gets_the_key_from_the_shell_and_none_without_it(cli: list[str]) -> None:
    shell = {name: f"{name.lower()}-value" for name in NEEDED}

    def key(extra: dict[str, str]) -> str:
        config = Project(cli, "ghostbus", shell | extra, "cloud", override=False).run("config", "--format", "json")
        value: str = json.loads(config.stdout)["services"]["llm_worker_cloud"]["environment"]["OPENAI_API_KEY"]
        return value

    assert key({"OPENAI_API_KEY": "sk-from-the-shell"}) == "sk-from-the-shell"
    assert key({}) == ""  # the worker refuses that at start (tests/deploy/test_compose_run.py)


@pytest.fixture(scope="module")
def engine(cli: list[str]) -> list[str]:
    if not engine_answers():
        unavailable("no Docker engine answers (as root, `make test` starts one: tests/docker/engine.sh)")
    try:
        had = images.ensure(upstream_images())
        images.ensure_ollama_standin()
    except images.Unavailable as error:
        unavailable(str(error))
    print(f"\nupstream images: {had}")
    return cli


@pytest.fixture
def project(engine: list[str]) -> Iterator[Project]:
    shell = {name: os.urandom(12).hex() for name in NEEDED} | {"GATEWAY_PORT": str(free_port())}
    project = Project(engine, f"ghostbus-test-{os.getpid()}", shell, "local")
    try:
        yield project
    finally:
        project.run("down", "--volumes", "--rmi", "local", check=False)


@pytest.fixture
def cluster_project(engine: list[str]) -> Iterator[Project]:
    ports = {"GATEWAY_PORT": str(free_port()), "GATEWAY2_PORT": str(free_port())}
    shell = {name: os.urandom(12).hex() for name in NEEDED} | ports
    project = Project(engine, f"ghostbus-cluster-{os.getpid()}", shell, "cluster")
    try:
        yield project
    finally:
        project.run("down", "--volumes", "--rmi", "local", check=False)


@dataclass
class Gateway:
    """The published gateway, signed in with the access token as a script does."""

    port: int
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def chat(gateway: Gateway, text: str) -> tuple[str, dict[str, Any]]:
    """One chat through the gateway's WebSocket, as the page sends it: the run's id and its last event."""
    async with websockets.connect(f"ws://127.0.0.1:{gateway.port}/ws", additional_headers=gateway.auth) as ws:
        await ws.send(json.dumps({"type": "chat", "text": text}))
        run_id = ""
        async with asyncio.timeout(90):
            while True:
                message: dict[str, Any] = json.loads(await ws.recv())
                run_id = message.get("runId", run_id)
                if message["type"] in ("RUN_FINISHED", "RUN_ERROR", "error"):
                    return run_id, message


def chats(gateway: Gateway, *texts: str) -> list[tuple[str, dict[str, Any]]]:
    async def all_at_once() -> list[tuple[str, dict[str, Any]]]:
        return list(await asyncio.gather(*(chat(gateway, text) for text in texts)))

    return asyncio.run(all_at_once())


def tasks(gateway: Gateway) -> list[str]:
    listed = httpx.get(f"http://127.0.0.1:{gateway.port}/api/tasks", headers=gateway.auth, timeout=30)
    listed.raise_for_status()
    return [task["name"] for task in listed.json()]


def states(project: Project) -> dict[str, list[tuple[str, str, int]]]:
    """Each service's containers as (state, health, exit code)."""
    found: dict[str, list[tuple[str, str, int]]] = {}
    for line in project.run("ps", "--all", "--format", "json").stdout.splitlines():
        row = json.loads(line)
        found.setdefault(row["Service"], []).append((row["State"], row["Health"], row["ExitCode"]))
    return found


def up(project: Project, *args: str) -> float:
    started = time.monotonic()
    project.run("up", "--detach", "--wait", "--wait-timeout", "240", *args, timeout=300)
    return time.monotonic() - started


@pytest.mark.timeout(1500)
def test_the_local_profile_builds_starts_scales_restarts_and_goes(project: Project, tmp_path: Path) -> None:
    gateway = Gateway(int(project.env["GATEWAY_PORT"]), project.env["GATEWAY_ACCESS_TOKEN"])
    started = time.monotonic()
    project.run("build", timeout=1200)
    figures: dict[str, object] = {"build_s": time.monotonic() - started, "up_s": up(project)}
    healthy = [("running", "healthy", 0)]
    assert states(project) == {
        **{name: healthy for name in ("nats", "ollama", "crud", "llm_worker", "gateway")},
        "ollama-pull": [("exited", "", 0)],  # pulled the model, then ended
    }

    run_id, finished = asyncio.run(chat(gateway, "please add milk"))
    assert finished["type"] == "RUN_FINISHED", finished
    assert tasks(gateway) == ["milk"]

    figures["scale_s"] = up(project, "--scale", "llm_worker=3")
    workers = project.containers("llm_worker")
    assert len(workers) == 3 and states(project)["llm_worker"] == healthy * 3
    # each worker takes one run at a time (LLM_CAPACITY=1) and the stand-in answers slowly: nine at once spread
    runs = chats(gateway, *(f"add item {n}" for n in range(9)))
    assert [message["type"] for _, message in runs] == ["RUN_FINISHED"] * 9, runs
    logs = {worker: project.container_logs(worker) for worker in workers}
    took = {worker: sorted(run for run, _ in runs if run in log) for worker, log in logs.items()}
    assert sorted(run for ids in took.values() for run in ids) == sorted(run for run, _ in runs), "each run once"
    assert all(took.values()), f"a worker took no run: {took}"
    figures["spread"] = sorted(len(ids) for ids in took.values())
    kept = tasks(gateway)
    assert sorted(kept) == sorted(["milk", *(f"item {n}" for n in range(9))])

    nats_log = project.logs("nats")
    all_logs = project.run("logs", "--no-color").stdout
    project.run("down", timeout=120)  # containers gone, volumes kept
    figures["restart_up_s"] = up(project)
    assert tasks(gateway) == kept
    _, again = asyncio.run(chat(gateway, "add bread"))
    assert again["type"] == "RUN_FINISHED", again
    assert tasks(gateway) == [*kept, "bread"]

    nats_log += project.logs("nats")
    all_logs += project.run("logs", "--no-color").stdout
    (tmp_path / "nats.log").write_text(nats_log)
    assert violations(tmp_path / "nats.log") == [], "every service did its job within its NATS permissions"
    leaked = [name for name, value in secrets_of(project.env).items() if value in all_logs]
    assert leaked == [], "no secret in a log line"

    project.run("down", "--volumes", "--rmi", "local", timeout=180)
    assert project.leftovers() == {"containers": [], "volumes": [], "networks": []}
    rounded = {name: round(value, 1) if isinstance(value, float) else value for name, value in figures.items()}
    print(f"\ncompose figures: {json.dumps(rounded)}")


@pytest.mark.timeout(1500)
def test_the_cluster_profile_runs_on_three_nodes_with_two_gateways_and_outlives_a_node(
    cluster_project: Project, tmp_path: Path
) -> None:
    project = cluster_project
    token = project.env["GATEWAY_ACCESS_TOKEN"]
    one, two = (Gateway(int(project.env[port]), token) for port in ("GATEWAY_PORT", "GATEWAY2_PORT"))
    project.run("build", timeout=1200)
    figures: dict[str, object] = {"up_s": up(project)}
    healthy = [("running", "healthy", 0)]
    assert states(project) == {
        **{
            name: healthy for name in ("nats_1", "nats_2", "nats_3", "ollama", "crud_cluster", "gateway_1", "gateway_2")
        },
        "llm_worker_cluster": healthy * 2,
        "ollama-pull": [("exited", "", 0)],
    }
    _, finished = asyncio.run(chat(one, "please add milk"))
    assert finished["type"] == "RUN_FINISHED", finished
    assert tasks(two) == ["milk"], "the other gateway gives the same list"

    killed = time.monotonic()
    project.run("kill", "nats_2")  # SIGKILL: the services on it move to the other two nodes
    _, again = asyncio.run(chat(two, "add bread"))
    figures["chat_after_kill_s"] = time.monotonic() - killed
    assert again["type"] == "RUN_FINISHED", again
    assert tasks(one) == ["milk", "bread"]
    project.run("start", "nats_2")
    figures["rejoin_s"] = up(project)  # healthy again: its JetStream current with the cluster
    assert tasks(two) == ["milk", "bread"]

    logs = project.run("logs", "--no-color").stdout
    (tmp_path / "nats.log").write_text("".join(project.logs(node) for node in ("nats_1", "nats_2", "nats_3")))
    assert violations(tmp_path / "nats.log") == [], "every service did its job within its NATS permissions"
    leaked = [name for name, value in secrets_of(project.env).items() if value in logs]
    assert leaked == [], "no secret in a log line"
    project.run("down", "--volumes", "--rmi", "local", timeout=180)
    assert project.leftovers() == {"containers": [], "volumes": [], "networks": []}
    rounded = {name: round(value, 1) if isinstance(value, float) else value for name, value in figures.items()}
    print(f"\ncompose cluster figures: {json.dumps(rounded)}")
