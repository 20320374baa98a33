"""The Debian packages `make run`/`make test` need and this machine lacks: installed as root, else named.

`python3 -m tools.system_deps [--python PY] NEED...`, NEED among venv, compiler, openmp, npm, chromium, atomic.
As root the missing packages are installed with apt-get; otherwise it exits 1 at once with the exact apt-get
line, before anything slow has started. Standard library only: it runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import ctypes.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable


def has_venv(python: str) -> bool:
    """Debian's python3 makes a virtualenv with pip only with python3-venv (ensurepip's wheels are in it)."""
    probe = "import ensurepip, venv; assert ensurepip.version()"
    return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0


def has(*commands: str) -> Callable[[str], bool]:
    return lambda _python: all(shutil.which(command) for command in commands)


# each need: how to tell it is met, and the Debian packages that meet it
NEEDS: dict[str, tuple[Callable[[str], bool], list[str]]] = {
    "venv": (has_venv, ["python3-venv"]),
    # llama-cpp-python's C/C++ sources (cmake and ninja come locked from PyPI, requirements/build.txt)
    "compiler": (has("cc", "c++"), ["build-essential"]),
    # llama.cpp's OpenMP runtime, needed to load the embedded model even when its wheel came from the cache
    "openmp": (lambda _python: ctypes.util.find_library("gomp") is not None, ["libgomp1"]),
    "npm": (has("npm"), ["npm"]),
    "chromium": (lambda _python: os.access("/usr/bin/chromium", os.X_OK), ["chromium"]),
    # Playwright's own node binary needs libatomic (a compiler brings it; a cached llama wheel means no compiler)
    "atomic": (lambda _python: ctypes.util.find_library("atomic") is not None, ["libatomic1"]),
}


def missing(needs: list[str], python: str) -> list[str]:
    """The packages to install for `needs`, in order, each once."""
    packages: list[str] = []
    for need in needs:
        met, debs = NEEDS[need]
        if not met(python):
            packages += [deb for deb in debs if deb not in packages]
    return packages


def install(packages: list[str]) -> int:
    print(f"ghostbus: installing {' '.join(packages)} (apt-get, as root)", flush=True)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(["apt-get", "update", "-qq"], env=env)
    if update.returncode != 0:
        return update.returncode
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    return subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="python3", help="the Python the virtualenv is made with")
    parser.add_argument("needs", nargs="*", help=f"any of: {', '.join(NEEDS)}")
    args = parser.parse_args(argv)
    if unknown := [need for need in args.needs if need not in NEEDS]:
        parser.error(f"unknown need {', '.join(unknown)} (known: {', '.join(NEEDS)})")
    packages = missing(args.needs, args.python)
    if not packages:
        return 0
    if os.geteuid() == 0:
        return install(packages)
    print(advice(packages), file=sys.stderr)
    return 1


def advice(packages: list[str]) -> str:
    return (
        f"ghostbus: this machine lacks {', '.join(packages)}. Install them, then run make again:\n"
        f"    sudo apt-get install {' '.join(packages)}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
