"""Compose v2 driven from the tests: one project of compose.yaml on a real Docker engine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.images import CACHE, Unavailable
from tests.support.stack import ROOT

OVERRIDE = Path(__file__).resolve().parent / "compose.test.yaml"
# what of the caller's environment must not reach compose: its own switches and compose.yaml's variables
FOREIGN_PREFIXES = ("COMPOSE_", "NATS_", "GATEWAY_", "OPENAI_", "OLLAMA_", "LLM_")


def unavailable(reason: str) -> None:
    """No engine, Compose or images here: a skip that says why, or a failure where Docker is required (CI)."""
    if os.environ.get("GHOSTBUS_REQUIRE_DOCKER"):
        pytest.fail(f"GHOSTBUS_REQUIRE_DOCKER is set, but {reason}")
    pytest.skip(reason)


def compose_cli() -> list[str] | None:
    """`docker compose` when the docker CLI has Compose v2, else the standalone binary tests/docker/engine.sh
    keeps in the cache; None when neither is there."""
    if shutil.which("docker"):
        said = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
        if said.returncode == 0 and re.search(r"\bv2\.", said.stdout):
            return ["docker", "compose"]
    cached = CACHE / "cli-plugins" / "docker-compose"
    return [str(cached)] if os.access(cached, os.X_OK) else None


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


class ComposeFailed(AssertionError):
    pass


@dataclass
class Project:
    """compose.yaml (with tests/docker/compose.test.yaml over it) as one compose project."""

    cli: list[str]
    name: str
    env: dict[str, str]  # the shell `docker compose` is run from: its secrets and settings
    profile: str | None = None
    override: bool = True  # False: compose.yaml alone, exactly as a person runs it

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [*self.cli, "-p", self.name, "-f", str(ROOT / "compose.yaml")]
        argv += ["-f", str(OVERRIDE)] if self.override else []
        argv += ["--profile", self.profile] if self.profile else []
        clean = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}
        done = subprocess.run(
            [*argv, *args], cwd=ROOT, env=clean | self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise ComposeFailed(f"docker compose {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done

    def containers(self, service: str) -> list[str]:
        """The running containers of one service, by id."""
        return self.run("ps", "-q", service).stdout.split()

    def logs(self, service: str) -> str:
        return self.run("logs", "--no-color", "--no-log-prefix", service).stdout

    def container_logs(self, container: str) -> str:
        done = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    def leftovers(self) -> dict[str, list[str]]:
        """What Docker still holds of this project: containers, volumes, networks (by compose's label)."""
        label = f"label=com.docker.compose.project={self.name}"
        found = {}
        for kind, listing in (("containers", ["ps", "-a", "-q"]), ("volumes", ["volume", "ls", "-q"])):
            found[kind] = docker(*listing, "--filter", label).split()
        found["networks"] = docker("network", "ls", "-q", "--filter", label).split()
        return found


def docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise Unavailable(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def upstream_images() -> list[str]:
    """The images the Dockerfile builds from and the ones compose.yaml pulls (bar Ollama, stood in for)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    images = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    images += re.findall(r"^\s+image:\s+(nats:\S+)", (ROOT / "compose.yaml").read_text(), re.M)
    return list(dict.fromkeys(images))


def secrets_of(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.endswith(("_PASSWORD", "_TOKEN", "_KEY"))}
