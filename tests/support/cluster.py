"""A three-node nats-server cluster for tests: deploy/nats/cluster-N.conf as shipped, only its ports moved to
free ones and its stores under a temp dir; each node killed (SIGKILL) and started again on its own."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nats

from proto.streams import configs
from tests.support.natsd import nats_server_binary, stop_process
from tests.support.stack import ROOT, free_port

DEPLOY = ROOT / "deploy" / "nats"
SIZE = 3
CLIENT, ROUTE, MONITOR = 4222, 6222, 8222  # the shipped ports of node 1; node N adds N - 1
ADMIN = "admin"
ASK_S = 0.25  # one question about a stream: short, so an election is timed to within this


def shipped(n: int) -> Path:
    return DEPLOY / f"cluster-{n}.conf"


@dataclass
class Node:
    """One nats-server of the cluster."""

    n: int
    config: Path
    log: Path
    port: int
    monitor: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"ghostbus-{self.n}"

    def start(self) -> None:
        self.log.write_bytes(b"")
        args = [nats_server_binary(), "-c", str(self.config), "-l", str(self.log)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Server is ready" in self.log.read_text(errors="replace"):
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.n} exited at start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.02)
        raise RuntimeError(f"nats-server {self.n} not ready in {timeout}s:\n{self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL: the node vanishes mid-sentence, as a machine that loses power."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def clients(self) -> list[str]:
        """The names of the clients connected to this node (its monitoring port's /connz)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/connz", timeout=5) as response:
            return [str(c.get("name", "")) for c in json.load(response).get("connections") or []]

    def sent_by(self, client: str) -> dict[int, int]:
        """Messages each connection of that name has sent to this node so far, by connection id."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/connz", timeout=5) as response:
            connections = json.load(response).get("connections") or []
        return {int(c["cid"]): int(c.get("in_msgs", 0)) for c in connections if c.get("name") == client}

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """The three nodes of `make run-cluster` on free ports, with the users and permissions of `make run`."""

    base: Path
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        for part in ("local-users.conf", "permissions.conf"):
            shutil.copy(DEPLOY / part, self.base / part)
        ports = {old + i: free_port() for old in (CLIENT, ROUTE, MONITOR) for i in range(SIZE)}
        for n in range(1, SIZE + 1):
            text = shipped(n).read_text()
            for old, new in ports.items():
                text = re.sub(rf"(?<![\d.]){old}(?!\d)", str(new), text)
            store = f'store_dir: "var/nats-cluster/{n}"'
            assert store in text, "cluster-N.conf keeps node N's JetStream under var/nats-cluster/N"
            text = text.replace(store, f'store_dir: "{self.base / f"store-{n}"}"')
            config = self.base / f"cluster-{n}.conf"
            config.write_text(text)
            log = self.base / f"nats-{n}.log"
            self.nodes.append(Node(n, config, log, ports[CLIENT + n - 1], ports[MONITOR + n - 1]))

    def url(self, user: str) -> str:
        """NATS_URL for `user`: the three nodes, as Procfile.cluster gives them."""
        return ",".join(f"nats://{user}:{user}-local@127.0.0.1:{node.port}" for node in self.nodes)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def serving(self, client: str) -> Node:
        """The node a service's connection (by its name: crud, llm_worker, gateway) is on; the first one."""
        return next(node for node in self.nodes if node.up and client in node.clients())

    def publishing(self, client: str, window_s: float = 0.5) -> Node:
        """The node of the `client` connection (by service name) that sent the most messages over `window_s`:
        a worker answering a run publishes each token, an idle one only asks for work now and then."""
        before = {node.name: node.sent_by(client) for node in self.nodes if node.up}
        time.sleep(window_s)
        after = {node.name: node.sent_by(client) for node in self.nodes if node.up}
        moved = {
            (name, cid): count - before[name].get(cid, count)
            for name, counts in after.items()
            if name in before
            for cid, count in counts.items()
        }
        (name, _), most = max(moved.items(), key=lambda item: item[1])
        assert most >= 3, f"no {client} connection sent messages over {window_s} s: {moved}"
        return self.node(name)

    def start(self, timeout: float = 30.0) -> None:
        """Start the three nodes and wait until JetStream's cluster has elected its meta leader."""
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_listening()
        asyncio.run(self.wait_jetstream(timeout))

    async def wait_jetstream(self, timeout: float) -> None:
        nc = await nats.connect(self.url(ADMIN).split(","), connect_timeout=2)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()

    def restart(self, node: Node) -> None:
        """The node again with its store: it rejoins and catches up on what it missed."""
        node.start()
        node.wait_listening()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def refused(self) -> list[str]:
        """Every permission refusal any node logged (its current log)."""
        refusals = ("Permissions Violation", "Authorization Violation", "authentication error")
        return [
            line
            for node in self.nodes
            if node.log.exists()
            for line in node.log.read_text(errors="replace").splitlines()
            if any(r in line for r in refusals)
        ]


class Admin:
    """An admin connection to the cluster: who leads a stream, whether a node has caught up."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.nc: nats.NATS | None = None

    async def __aenter__(self) -> Admin:
        self.nc = await nats.connect(self.cluster.url(ADMIN).split(","), connect_timeout=2, reconnect_time_wait=0.2)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.nc is not None
        await self.nc.close()

    async def leader(self, stream: str) -> str | None:
        """The stream's leader (its server name); None while there is none or it cannot be asked."""
        assert self.nc is not None
        try:
            info = await self.nc.jetstream(timeout=ASK_S).stream_info(stream)
        except Exception:  # noqa: BLE001 - no leader to answer: that is the answer
            return None
        return info.cluster.leader if info.cluster is not None else None

    async def replicas(self, stream: str, timeout: float = 30.0) -> list[tuple[str, bool, int]]:
        """The stream's followers: (name, current, lag). Asked again while no leader answers: a node that has
        just come back may set off an election of this stream too (seen taking over 5 s on 2 busy cores)."""
        assert self.nc is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = await self.nc.jetstream(timeout=2.0).stream_info(stream)
                break
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(ASK_S)
        assert info.cluster is not None
        return [(r.name, bool(r.current), int(r.lag or 0)) for r in info.cluster.replicas or []]

    async def new_leader(self, stream: str, old: str, timeout: float = 30.0) -> tuple[str, float]:
        """Wait until another node than `old` leads the stream: its name and how long that took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            now = await self.leader(stream)
            if now is not None and now != old:
                return now, time.monotonic() - started
            await asyncio.sleep(0.02)
        raise AssertionError(f"no new leader for {stream} within {timeout:.0f} s")

    async def caught_up(self, stream: str, name: str, timeout: float = 30.0) -> None:
        """Wait until node `name` is a current follower (or the leader) of the stream again."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if await self.leader(stream) == name or any(
                    r == name and current and lag == 0 for r, current, lag in await self.replicas(stream)
                ):
                    return
            except Exception:  # noqa: BLE001 - asked again
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not catch up on {stream} within {timeout:.0f} s")
            await asyncio.sleep(0.1)


STREAM_NAMES = tuple(str(config.name) for config in configs())
