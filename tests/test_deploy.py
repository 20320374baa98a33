"""compose.yaml and the Procfile run the same services with the same settings names."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, list[str]]:
    """Each process's command, without the leading VAR=value settings."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            words = shlex.split(command)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            entries[name.strip()] = words
    return entries


def procfile_settings() -> dict[str, dict[str, str]]:
    """The VAR=value settings each Procfile process sets."""
    out: dict[str, dict[str, str]] = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
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


def test_compose_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    for name in ("nats", "ollama"):
        assert "healthcheck" in services[name], name
    for name in ("crud", "llm_worker", "gateway"):
        depends = services[name]["depends_on"]
        assert depends["nats"]["condition"] == "service_healthy", name
    published = [name for name, spec in services.items() if spec.get("ports")]
    assert published == ["gateway"]
    assert "crud-data" in compose()["volumes"]


def test_compose_uses_only_settings_the_services_read() -> None:
    known = settings_names()
    used = set()
    for spec in compose()["services"].values():
        for key in (spec.get("environment") or {}):
            used.add(key)
    assert used - known == set(), f"compose sets variables no service reads: {used - known}"
    text = (ROOT / "compose.yaml").read_text()
    for var in re.findall(r"\$\{(\w+):-", text):
        assert var in known or var == "GATEWAY_PORT", var


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
