"""`make run`/`make test` on a bare Debian machine: what is missing is named in one apt-get line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tools.system_deps import advice, missing


def test_a_bare_machine_needs_the_venv_module_a_compiler_npm_and_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debian's python3 without python3-venv: `import ensurepip` fails
    bare_python = tmp_path / "python3"
    bare_python.write_text("#!/bin/sh\nexit 1\n")
    bare_python.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, c++ or npm on it
    needed = missing(["venv", "compiler", "npm"], str(bare_python))
    assert needed == ["python3-venv", "build-essential", "npm"]
    assert missing(["venv", "venv"], str(bare_python)) == ["python3-venv"], "each package once"


def test_a_machine_that_has_it_all_needs_nothing() -> None:
    assert missing(["venv"], sys.executable) == []  # this virtualenv was made, so its Python can make one
    assert missing(["openmp"], sys.executable) == []  # the tests load the embedded model: libgomp is here
    assert missing([], sys.executable) == []


def test_the_advice_is_one_line_to_run() -> None:
    said = advice(["python3-venv", "build-essential"])
    assert said.splitlines()[-1].strip() == "sudo apt-get install python3-venv build-essential"
