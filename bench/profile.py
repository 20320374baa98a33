"""Sampling profiles (py-spy) of the service processes while a benchmark runs, summarised by where the
CPU time went: the package each sampled frame belongs to, and the functions with the most self time.

py-spy comes with the `bench` extra; without it (or without the right to trace) the profile is skipped
and says why, and the benchmark's figures are unaffected."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

RATE_HZ = int(os.environ.get("BENCH_PROFILE_HZ", "200"))  # samples a second (more for a short step)
STACK_DEPTH = 7
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def package(path: str) -> str:
    """Which package a source file belongs to: ours by module, a dependency by name, the stdlib by module."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for ours in ("services/", "proto/", "bench/", "tests/"):
        if f"/{ours}" in path:
            tail = path.split(f"/{ours}", 1)[1]
            parts = [ours.rstrip("/"), *tail.removesuffix(".py").split("/")]
            return ".".join(parts[:3] if ours == "services/" else parts[:2])
    if "/lib/python3" in path:
        rest = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
        return "stdlib " + rest.split("/", 1)[0].removesuffix(".py")
    return path


def summarise(collapsed: str, top: int = 12) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks → self time by package and by function, as % of the samples."""
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    stacks: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        leaf = stack.split(";")[-1]
        found = FRAME.match(leaf)
        func, file = (found.group("func"), found.group("file")) if found else (leaf, leaf)
        by_package[package(file)] += count
        by_function[f"{func} ({package(file)})"] += count
        frames = [FRAME.sub(lambda m: m.group("func"), frame) for frame in stack.split(";")]
        stacks[" < ".join(reversed(frames[-STACK_DEPTH:]))] += count

    def share(counter: Counter[str]) -> dict[str, float]:
        return {k: round(v / total * 100, 1) for k, v in counter.most_common(top)} if total else {}

    return {
        "samples": total,
        "self_by_package_pct": share(by_package),
        "self_by_function_pct": share(by_function),
        "hottest_stacks_pct": {k: v for k, v in list(share(stacks).items())[:6]},
    }


class Profile:
    """`with Profile("relay_max", {"gateway": pid, ...}):` records each process until the block ends."""

    def __init__(self, name: str, pids: dict[str, int]) -> None:
        self.name = name
        self.pids = pids
        self.recorders: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.result: dict[str, Any] = {}
        self.raw = Path()

    def __enter__(self) -> Profile:
        binary = py_spy()
        if binary is None:
            self.result = {"skipped": "py-spy is not installed (pip install -e '.[bench]')"}
            return self
        self.raw = Path(tempfile.mkdtemp(prefix=f"profile-{self.name}-"))
        for label, pid in self.pids.items():
            out = self.raw / f"{label}.txt"
            args = [binary, "record", "-p", str(pid), "-r", str(RATE_HZ), "-f", "raw", "-o", str(out)]
            args += ["--nonblocking", "--full-filenames"]
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.recorders[label] = (proc, out)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for label, (proc, out) in self.recorders.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            try:
                _, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
            if out.exists() and out.stat().st_size:
                self.result[label] = summarise(out.read_text())
            else:
                self.result[label] = {"skipped": stderr.decode(errors="replace").strip()[-300:] or "no samples"}
        # The summary is the figure; the raw stacks (large) stay in a temporary directory for a closer look.
        print(f"profile {self.name}: raw stacks in {self.raw}", file=sys.stderr)
