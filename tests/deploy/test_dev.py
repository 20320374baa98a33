"""`make dev` in a scratch copy of the project: a template edited reloads the open page, a service edited
restarts that service, a syntax error leaves the rest of the stack running until the next save fixes it,
and Ctrl-C stops everything."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.browser import chromium
from tests.support.stack import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@dataclass
class Dev:
    """`make dev` running in `root`, its output in `log`."""

    root: Path
    proc: subprocess.Popen[bytes]
    log: Path
    url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, count: int = 1, timeout: float = 60.0) -> None:
        """Until `text` has appeared `count` times in the output."""
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            assert self.proc.poll() is None, "make dev ended:\n" + self.output()[-3000:]
            assert time.monotonic() < deadline, f"no {count}× {text!r} in:\n" + self.output()[-3000:]
            time.sleep(0.2)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))


def scratch_copy(dest: Path) -> Path:
    """The project's files as git knows them (edited ones included), with this checkout's venv and npm assets."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    for name in listed.stdout.splitlines():
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    for shared in (".venv", "node_modules"):
        (dest / shared).symlink_to((ROOT / shared).resolve())
    return dest


def running_in(root: Path, pids: bool = False) -> list[str]:
    """The command lines (or the pids) of the processes whose working directory is `root`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").resolve() == root:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(proc.name if pids else cmdline)
        except OSError:
            continue
    return found


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    root = scratch_copy(tmp_path / "ghostbus")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CRUD_", "LLM_", "NATS_"))}
    env |= {
        "GATEWAY_PORT": str(port),
        "NATS_PORT": str(free_port()),
        "NATS_MONITOR_PORT": str(free_port()),
        "LLM_BACKEND": "scripted",
        "OLLAMA_HOST": "http://127.0.0.1:9",
    }
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "dev"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Dev(root, proc, log, f"http://127.0.0.1:{port}")
    try:
        yield running
    finally:
        # Whatever the test left running (it failed half-way): honcho's children are not all in make's
        # process group, so what still runs in the scratch copy is ended by its working directory.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        for pid in running_in(root, pids=True):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def test_make_dev_reloads_pages_restarts_services_and_survives_a_syntax_error(dev: Dev) -> None:
    dev.wait_for("crud ready")
    dev.wait_for("llm_worker ready")
    deadline = time.monotonic() + 60
    while not healthy(dev.url):
        assert time.monotonic() < deadline, dev.output()[-3000:]
        time.sleep(0.2)

    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(dev.url)
        await expect(page.locator("#sse-status")).to_have_attribute("data-state", "open")
        await page.fill("#add-name", "survives a reload")
        await page.press("#add-name", "Enter")
        await expect(page.locator("#tasks .task .name")).to_have_text(["survives a reload"])
        await page.evaluate("window.servedBefore = true")
        # A template edited: the gateway restarts and the open page reloads itself, the list as it was.
        dev.edit("services/gateway/templates/pages/index.html", "drag to reorder", "drag (edited) to reorder")
        await expect(page.locator(".hint").first).to_contain_text("(edited)", timeout=60_000)
        assert await page.evaluate("window.servedBefore === undefined"), "the page was loaded anew"
        await expect(page.locator("#tasks .task .name")).to_have_text(["survives a reload"])

    # A service edited: that service restarts (it says ready again).
    dev.edit("services/crud/summaries.py", '"""', '"""Edited while running. ')
    dev.wait_for("crud ready", count=2)
    # A syntax error: crud stays down saying why; the gateway still serves; the next save brings crud back.
    dev.edit("services/crud/summaries.py", "def ", "def (")
    dev.wait_for("SyntaxError")
    with urllib.request.urlopen(dev.url + "/", timeout=5) as response:  # /healthz would say crud is down
        assert response.status == 200 and b"task service" in response.read(), "the gateway serves, saying why"
    assert dev.proc.poll() is None, "the stack is still up"
    dev.edit("services/crud/summaries.py", "def (", "def ")
    dev.wait_for("crud ready", count=3)
    with urllib.request.urlopen(dev.url + "/api/tasks", timeout=5) as response:
        assert b"survives a reload" in response.read()

    # Ctrl-C stops everything, cleanly.
    os.killpg(dev.proc.pid, signal.SIGINT)
    dev.proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while (left := running_in(dev.root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], "still running after Ctrl-C: " + "; ".join(left)
    assert not healthy(dev.url)
    assert "Traceback" not in dev.output().split("SyntaxError")[-1].split("crud ready")[-1], dev.output()[-3000:]
