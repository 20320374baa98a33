"""NATS_URL with several servers: the nodes of a cluster, one user for all of them, a password never logged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from proto.bus import close, connect, redacted, server_list
from proto.streams import through_election
from tests.support.cluster import Cluster


def test_a_comma_separated_nats_url_is_the_list_of_servers() -> None:
    url = "nats://crud:pw@127.0.0.1:4222, nats://crud:pw@127.0.0.1:4223,nats://crud:pw@127.0.0.1:4224"
    assert server_list(url) == [f"nats://crud:pw@127.0.0.1:{port}" for port in (4222, 4223, 4224)]
    assert server_list("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    assert redacted(url) == ",".join(f"nats://crud:***@127.0.0.1:{port}" for port in (4222, 4223, 4224))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nats://a:1@h:4222,,nats://a:1@h:4223", "empty server"),
        ("nats://a:1@h:4222,nats://b:2@h:4223", "different users"),
    ],
)
def test_a_malformed_server_list_is_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        server_list(url)
    assert "1@" not in str(raised.value) and "2@" not in str(raised.value), "no password in the message"


@pytest.mark.slow
async def test_a_service_moves_to_another_node_of_the_cluster_when_its_node_dies(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    await asyncio.to_thread(cluster.start)
    try:
        # The credentials once, in the first URL: the other nodes get them too.
        first, *others = cluster.url("crud").split(",")
        url = ",".join([first, *(other.replace("crud:crud-local@", "") for other in others)])
        nc = await connect(url, name="crud")
        try:
            node = next(n for n in cluster.nodes if n.port == nc.connected_url.port)  # type: ignore[union-attr]
            node.kill()
            async with asyncio.timeout(10):
                while not (nc.is_connected and nc.connected_url.port != node.port):  # type: ignore[union-attr]
                    await asyncio.sleep(0.05)
            # Still crud, with crud's rights: it may ask for JetStream's info (nothing refused); once the killed
            # node's roles (the meta leader, maybe) are elected anew.
            await through_election(lambda: nc.request("$JS.API.INFO", b"", timeout=2), 30)
            assert cluster.refused() == []
        finally:
            await close(nc)
    finally:
        cluster.stop()
