"""The Python lock files (requirements/) pin every dependency pyproject.toml asks for, at a version it allows."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.stack import ROOT


def locked(name: str) -> dict[str, str]:
    """A lock file's pins: package name (normalized) -> version."""
    text = (ROOT / "requirements" / f"{name}.txt").read_text()
    return {canonicalize_name(n): v for n, v in re.findall(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", text, re.M)}


@pytest.mark.parametrize(
    ("lock", "extras"), [("app", []), ("embedded", ["embedded"]), ("test", ["embedded", "test"]), ("bench", None)]
)
def test_the_lock_files_pin_what_pyproject_asks_for(lock: str, extras: list[str] | None) -> None:
    """After a change to pyproject.toml's dependencies, `make lock` must be run: this says which pin is missing."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional: dict[str, list[str]] = project["optional-dependencies"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in (optional if extras is None else extras) for r in optional[extra]]
    pins = locked(lock)
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name == "llama-cpp-python":  # built from its hash-checked sdist (requirements/llama.txt), never locked
            assert requirement.specifier.contains(locked("llama")[name]), requirement
            continue
        assert name in pins, f"requirements/{lock}.txt lacks {requirement}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{lock}: {name}=={pins[name]}"
