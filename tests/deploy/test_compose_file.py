"""compose.yaml and the Procfile run the same services with the same settings names."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

ROOT = Path(__file__).resolve().parents[2]


def procfile(name: str = "Procfile") -> dict[str, list[str]]:
    """Each process's command, without the leading VAR=value settings and `exec`."""
    entries = {}
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            words = shlex.split(command)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words[:1] == ["exec"]:
                words.pop(0)
            entries[name.strip()] = words
    return entries


def procfile_settings(name: str = "Procfile") -> dict[str, dict[str, str]]:
    """The VAR=value settings each Procfile process sets."""
    out: dict[str, dict[str, str]] = {}
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            found = dict(w.split("=", 1) for w in shlex.split(command) if re.fullmatch(r"[A-Z_]+=\S*", w))
            out[name.strip()] = found
    return out


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def settings_names() -> set[str]:
    """Every environment variable a service reads, from the settings classes."""
    from services.crud.config import Settings as CrudSettings
    from services.gateway.config import Settings as GatewaySettings
    from services.llm_worker.config import Settings as WorkerSettings

    names = set()
    for cls in (CrudSettings, GatewaySettings, WorkerSettings):
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                alias = next((c for c in alias.choices if isinstance(c, str) and c.isupper()), None)
            names.add(alias if isinstance(alias, str) else (prefix + field_name).upper())
    return names


def test_procfile_and_compose_run_the_same_modules() -> None:
    services = compose()["services"]
    for name, command in procfile().items():
        if name == "nats":
            assert command[0] == "nats-server" and "nats" in services
            continue
        assert services[name]["command"] == command, name
    for worker in ("llm_worker_cloud", "llm_worker_embedded"):
        assert services[worker]["command"] == services["llm_worker"]["command"], worker


def test_each_service_connects_as_its_own_nats_user_in_both() -> None:
    services = compose()["services"]
    local = procfile_settings()
    for name, user in (("crud", "crud"), ("llm_worker", "llm_worker"), ("gateway", "gateway")):
        assert local[name]["NATS_URL"].startswith(f"nats://{user}:"), name
        assert services[name]["environment"]["NATS_URL"].startswith(f"nats://{user}:"), name
    for worker in ("llm_worker_cloud", "llm_worker_embedded"):
        assert services[worker]["environment"]["NATS_URL"].startswith("nats://llm_worker:"), worker


def test_compose_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    workers = ("llm_worker", "llm_worker_embedded", "llm_worker_cloud")
    for name in ("nats", "ollama", "crud", *workers, "gateway"):
        assert "healthcheck" in services[name], name
    for name in ("crud", *workers, "gateway"):
        depends = services[name]["depends_on"]
        assert depends["nats"]["condition"] == "service_healthy", name
    for name in (*workers, "gateway"):
        assert services[name]["depends_on"]["crud"]["condition"] == "service_healthy", name
    assert services["llm_worker"]["depends_on"]["ollama-pull"]["condition"] == "service_completed_successfully"
    published = [name for name, spec in services.items() if spec.get("ports")]
    assert published == ["gateway", "gateway_1", "gateway_2"]
    nodes = {f"nats-{n}-data" for n in (1, 2, 3)}
    assert set(compose()["volumes"]) == {"nats-data", "ollama-models", "crud-data", "embedded-model"} | nodes
    assert "crud-data:/data" in services["crud"]["volumes"]
    # assembled once, shared by scaled workers, where the worker looks for it (DATA_DIR/models)
    assert services["llm_worker_embedded"]["volumes"] == ["embedded-model:/data/models"]


def test_the_cloud_and_embedded_profiles_swap_only_the_worker() -> None:
    services = compose()["services"]

    def profile(name: str) -> set[str]:
        return {n for n, s in services.items() if name in s.get("profiles", [])}

    single = {"nats", "crud", "gateway"}
    assert profile("local") == single | {"ollama", "ollama-pull", "llm_worker"}
    assert profile("cloud") == single | {"llm_worker_cloud"} and profile("embedded") == single | {"llm_worker_embedded"}
    assert {n for n, s in services.items() if not s.get("profiles")} == set(), "a profile is always named"
    cloud = services["llm_worker_cloud"]["environment"]
    # compose interpolates inactive profiles too: a required key here would stop every other profile
    assert cloud["LLM_BACKEND"] == "openai" and cloud["OPENAI_API_KEY"] == "${OPENAI_API_KEY:-}"
    embedded = services["llm_worker_embedded"]
    assert embedded["environment"]["LLM_BACKEND"] == "embedded"
    assert embedded["build"] == {"context": ".", "args": {"EXTRAS": "embedded"}}


def test_secrets_come_from_the_environment_never_from_defaults() -> None:
    text = (ROOT / "compose.yaml").read_text()
    for secret in ("NATS_CRUD_PASSWORD", "NATS_WORKER_PASSWORD", "NATS_GATEWAY_PASSWORD", "GATEWAY_ACCESS_TOKEN"):
        assert f"${{{secret}:?" in text, secret
        assert f"${{{secret}:-" not in text, secret
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "PASSWORD" not in dockerfile and "TOKEN" not in dockerfile and "API_KEY" not in dockerfile


def test_compose_uses_only_settings_the_services_read() -> None:
    known = settings_names()
    # nats-server and the Ollama images read their own variables.
    foreign = {"nats", "nats_1", "nats_2", "nats_3", "ollama", "ollama-pull"}
    used = set()
    for name, spec in compose()["services"].items():
        if name not in foreign:
            used |= set(spec.get("environment") or {})
    assert used - known == set(), f"compose sets variables no service reads: {used - known}"
    nats_env = set(compose()["services"]["nats"]["environment"])
    server_conf = (ROOT / "deploy" / "nats" / "server.conf").read_text()
    assert all(f"${var}" in server_conf for var in nats_env), "nats gets exactly the passwords server.conf reads"
    text = (ROOT / "compose.yaml").read_text()
    for var in re.findall(r"\$\{(\w+):-", text):
        assert var in known or var in ("GATEWAY_PORT", "GATEWAY2_PORT"), var


def test_generic_variables_from_the_process_manager_do_not_leak_into_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """honcho sets PORT for every process, shells set HOST; only the prefixed names count."""
    from services.gateway.config import Settings as GatewaySettings
    from services.llm_worker.config import Settings as WorkerSettings

    for name, value in {"PORT": "5300", "HOST": "0.0.0.0", "BACKEND": "ollama", "CAPACITY": "9"}.items():
        monkeypatch.setenv(name, value)
    gateway, worker = GatewaySettings(), WorkerSettings()
    assert (gateway.port, gateway.host) == (8000, "127.0.0.1")
    assert (worker.backend, worker.capacity) == ("auto", 1)
    monkeypatch.setenv("GATEWAY_PORT", "8123")
    assert GatewaySettings().port == 8123


def test_the_dockerfile_builds_from_files_that_exist_and_runs_as_a_user() -> None:
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()]
    stages = [words for words in lines if words[0] == "FROM"]
    assert len(stages) == 2 and stages[0][-1] == "assets", "npm assets, then the runtime"
    for words in lines:
        if words[0] == "COPY" and not words[1].startswith("--from"):
            for source in words[1:-1]:
                assert (ROOT / source).exists(), source
    assert ["USER", "ghostbus"] in lines
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "node_modules", "var", ".env"} <= set(ignored)


def test_compose_runs_the_nats_server_version_the_tests_run() -> None:
    from tests.support.natsd import nats_server_binary

    version = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"v(\d+\.\d+)\.", version)
    assert found, version
    assert compose()["services"]["nats"]["image"] == f"nats:{found.group(1)}-alpine"


def test_the_services_image_is_built_from_this_dockerfile_never_pulled() -> None:
    services = compose()["services"]
    for name in ("crud", "llm_worker", "llm_worker_cloud", "gateway"):
        assert services[name]["build"] == "." and "image" not in services[name], name
    assert "image" not in services["llm_worker_embedded"]


def test_the_image_installs_python_packages_only_from_the_lock_files() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    installs = re.findall(r"pip install ([^;&]*)", dockerfile)
    assert installs, "the Dockerfile installs with pip"
    for words in installs:
        hashed = "--require-hashes" in words and re.search(r"-r requirements/\w+\.txt", words)
        assert hashed or words.split()[:2] == ["--no-deps", "--no-build-isolation"], words
    for lock in re.findall(r"requirements/\w+\.txt", dockerfile):
        assert "--hash=sha256:" in (ROOT / lock).read_text(), lock


def test_the_node_stage_is_on_a_supported_lts() -> None:
    found = re.search(r"^FROM node:(\d+)-slim AS assets$", (ROOT / "Dockerfile").read_text(), re.M)
    assert found and int(found.group(1)) in (22, 24), "Node 20 is past its end of life"


def test_the_cluster_profile_has_the_shape_of_make_run_cluster() -> None:
    services = compose()["services"]
    cluster = {n for n, s in services.items() if "cluster" in s.get("profiles", [])}
    nodes = ["nats_1", "nats_2", "nats_3"]
    workers, gateways = ["llm_worker_cluster"], ["gateway_1", "gateway_2"]
    assert cluster == {*nodes, "crud_cluster", *workers, *gateways, "ollama", "ollama-pull"}
    conf = (ROOT / "deploy" / "nats" / "compose-cluster.conf").read_text()
    assert 'include "server.conf"' in conf
    assert all(f"nats-route://{node}:6222" in conf for node in nodes)
    names = set()
    for node in nodes:
        spec = services[node]
        assert (
            "/etc/nats/compose-cluster.conf" in spec["command"]
            and f"{node[:4]}-{node[-1]}-data:/data" in spec["volumes"]
        )
        names.add(spec["environment"]["NATS_NODE"])
    assert len(names) == 3, "each node its own server_name"
    assert services["crud_cluster"]["environment"]["STREAM_REPLICAS"] == "3"
    assert services["llm_worker_cluster"]["deploy"]["replicas"] == 2
    for name, user in (
        ("crud_cluster", "crud"),
        ("llm_worker_cluster", "llm_worker"),
        *((g, "gateway") for g in gateways),
    ):
        urls = services[name]["environment"]["NATS_URL"].split(",")
        assert [u.split("@")[1] for u in urls] == [f"{node}:4222" for node in nodes], name
        assert all(u.startswith(f"nats://{user}:") for u in urls), name
        assert set(services[name]["depends_on"]) >= set(nodes), name
    ports = [services[g]["ports"][0] for g in gateways]
    assert len(set(ports)) == 2, "two gateways behind distinct ports"
    # make run-cluster: the same modules, users and replicas as processes
    local = procfile("Procfile.cluster")
    settings = procfile_settings("Procfile.cluster")
    assert [local[f"nats{n}"] for n in (1, 2, 3)] == [
        ["nats-server", "-c", f"deploy/nats/cluster-{n}.conf"] for n in (1, 2, 3)
    ]
    for name, service in (("crud", "crud_cluster"), ("llm_worker", "llm_worker_cluster"), ("gateway1", "gateway_1")):
        assert local[name] == services[service]["command"], name
        urls = settings[name]["NATS_URL"].split(",")
        user = services[service]["environment"]["NATS_URL"].split(":")[1].removeprefix("//")
        assert urls == [f"nats://{user}:{user}-local@127.0.0.1:{port}" for port in (4222, 4223, 4224)], name
    assert settings["crud"]["STREAM_REPLICAS"] == "3"
    assert settings["gateway2"]["GATEWAY_PORT"] == "$((${GATEWAY_PORT:-8000}+1))"
