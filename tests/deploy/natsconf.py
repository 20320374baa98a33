"""deploy/nats as the tests use it: a nats-server locked down with the local users, the compose
configuration with its passwords from the environment, and the permissions read back as data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.natsd import NatsServer, nats_server_binary

DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy" / "nats"
USERS = ("crud", "llm_worker", "gateway")
# server.conf's users and the environment variable holding each password.
COMPOSE_PASSWORDS = {
    "crud": "NATS_CRUD_PASSWORD",
    "llm_worker": "NATS_WORKER_PASSWORD",
    "gateway": "NATS_GATEWAY_PASSWORD",
    "admin": "NATS_ADMIN_PASSWORD",
}


def local_url(server: NatsServer, user: str) -> str:
    """NATS_URL for `user` on a server started with the local users (local-users.conf)."""
    return f"nats://{user}:{user}-local@127.0.0.1:{server.port}"


def locked_down(base: Path) -> NatsServer:
    """A nats-server (not yet started) with the users and permissions `make run` uses."""
    base.mkdir(parents=True, exist_ok=True)
    # nats-server resolves an include relative to the including file: the parts go beside the top file.
    for part in ("local-users.conf", "permissions.conf"):
        shutil.copy(DEPLOY / part, base / part)
    config = base / "nats.conf"
    config.write_text('include "local-users.conf"\n')
    return NatsServer(base / "nats", config=config)


def violations(log: Path) -> list[str]:
    """The refusals nats-server logged: a subject not permitted, a user or password not accepted."""
    refusals = ("Permissions Violation", "Authorization Violation", "authentication error")
    return [line for line in log.read_text(errors="replace").splitlines() if any(r in line for r in refusals)]


def around(log: Path, found: list[str], lines: int = 12) -> str:
    """The log's lines around each refusal: which service connected, or lost its node, just before it."""
    text = log.read_text(errors="replace").splitlines()
    parts = []
    for refusal in found:
        at = text.index(refusal)
        parts.append("\n".join(text[max(0, at - lines) : at + 3]))
    return "\n---\n".join(parts)


def check_config(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`nats-server -t`: parse a configuration file (includes, variables) and exit."""
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_PASSWORDS.values()}
    return subprocess.run(
        [nats_server_binary(), "-t", "-c", str(config)], env=clean | env, capture_output=True, text=True, timeout=30
    )


@dataclass
class ComposeNats:
    """compose's nats service without Docker: server.conf as shipped, but the JetStream store under a
    temp dir (the image mounts a volume at /data) and loopback on free ports."""

    base: Path
    passwords: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.base / "nats.log"

    def start(self, timeout: float = 10.0) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "permissions.conf", self.base / "permissions.conf")
        text = (DEPLOY / "server.conf").read_text()
        store = self.base / "store"
        assert 'store_dir: "/data"' in text, "server.conf keeps JetStream on the /data volume"
        (self.base / "server.conf").write_text(text.replace('store_dir: "/data"', f'store_dir: "{store}"'))
        env = {k: v for k, v in os.environ.items() if k not in COMPOSE_PASSWORDS.values()}
        env |= {COMPOSE_PASSWORDS[user]: password for user, password in self.passwords.items()}
        args = [nats_server_binary(), "-c", str(self.base / "server.conf"), "-a", "127.0.0.1", "-p", "-1", "-m", "-1"]
        self.log.write_bytes(b"")
        self.proc = subprocess.Popen([*args, "-l", str(self.log)], env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            found = re.search(r"Listening for client connections on [\d.]+:(\d+)", text)
            if found and "Server is ready" in text:
                self.port = int(found.group(1))
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited at start:\n{text}")
            time.sleep(0.02)
        raise RuntimeError(f"nats-server not ready in {timeout}s:\n{self.log.read_text(errors='replace')}")

    def url(self, user: str, password: str) -> str:
        return f"nats://{user}:{password}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass(frozen=True)
class Permissions:
    """What one user may publish and subscribe to, as permissions.conf allows it."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def may_publish(self, subject: str) -> bool:
        return any(matches(pattern, subject) for pattern in self.publish)

    def may_subscribe(self, subject: str) -> bool:
        """True when a subscription to `subject` (itself possibly a wildcard) is allowed."""
        return any(covers(pattern, subject) for pattern in self.subscribe)


def permissions() -> dict[str, Permissions]:
    """Each service user's permissions, read from permissions.conf (its `X_PERMISSIONS = {...}` blocks)."""
    text = (DEPLOY / "permissions.conf").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    names = {"CRUD": "crud", "WORKER": "llm_worker", "GATEWAY": "gateway"}
    out = {}
    for name, body in re.findall(r"^(\w+)_PERMISSIONS = \{(.*?)^\}", text, re.S | re.M):
        lists = {}
        for kind in ("publish", "subscribe"):
            found = re.search(kind + r":\s*\{\s*allow:\s*\[(.*?)\]", body, re.S)
            lists[kind] = tuple(re.findall(r'"([^"]+)"', found.group(1))) if found else ()
        out[names[name]] = Permissions(lists["publish"], lists["subscribe"])
    return out


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` one or more at the end."""
    want, have = pattern.split("."), subject.split(".")
    for n, token in enumerate(want):
        if token == ">":
            return len(have) > n
        if n >= len(have) or (token != "*" and token != have[n]):
            return False
    return len(want) == len(have)


def covers(pattern: str, subject: str) -> bool:
    """True when every subject `subject` can match is matched by `pattern` (a subscription is allowed)."""
    want, have = pattern.split("."), subject.split(".")
    for n, token in enumerate(want):
        if token == ">":
            return len(have) > n
        if n >= len(have) or have[n] == ">" or (token != "*" and (have[n] == "*" or token != have[n])):
            return False
    return len(want) == len(have)
