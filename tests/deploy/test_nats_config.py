"""deploy/nats follows the contract: each user is allowed the subjects of proto/subjects.py its service
uses and nothing it must not; compose's server.conf takes every password from the environment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from proto import subjects
from proto.streams import STREAMS
from tests.deploy.natsconf import (
    COMPOSE_PASSWORDS,
    DEPLOY,
    USERS,
    ComposeNats,
    Permissions,
    check_config,
    covers,
    matches,
    permissions,
    violations,
)

RUN = "r1"
CREATE = subjects.crud_command(subjects.TASK_ENTITY, "create")
RUNS_API = f"{subjects.RUNS_STREAM}.{subjects.RUNS_CONSUMER}"
# What each service does on the bus (see its service.py / worker.py / app.py), in proto's names.
NEEDS: dict[str, tuple[list[str], list[str]]] = {
    "crud": (
        [subjects.ui_event(subjects.TASK_ENTITY, "created"), subjects.UI_NOTIFY, subjects.service_ping("crud")],
        [
            subjects.CRUD_ALL,
            CREATE,
            subjects.TASK_LIST,
            subjects.NOTIFY,
            "$SRV.PING",
            "$SRV.INFO.crud",
            "_INBOX_crud.x",
        ],
    ),
    "llm_worker": (
        [
            subjects.run_event(RUN, 1, 0),
            CREATE,
            subjects.TASK_LIST,
            subjects.AUDIT_LIST,  # a redelivered run reads what its earlier attempts did
            subjects.CONVERSATION_APPEND,
            subjects.CONVERSATION_RECENT,
            subjects.CONVERSATION_BEGIN,
            subjects.NOTIFY,
            subjects.service_ping(subjects.WORKER_SERVICE),
            f"$JS.API.CONSUMER.DURABLE.CREATE.{RUNS_API}",
            f"$JS.API.CONSUMER.MSG.NEXT.{RUNS_API}",
            f"$JS.ACK.{RUNS_API}.1.2.3.4.5.6",
        ],
        [
            subjects.chat_cancel(RUN),
            "$SRV.PING",
            "$SRV.STATS.llm_worker",
            "$SRV.PING.llm_worker.id",
            "_INBOX_llm_worker.x",
        ],
    ),
    "gateway": (
        [
            subjects.CHAT_SUBMIT,
            subjects.chat_cancel(RUN),
            CREATE,
            subjects.TASK_LIST,
            subjects.AUDIT_LIST,
            subjects.CONVERSATION_RECENT,
            subjects.CONFIRMATION_ASK,  # an MCP agent's bulk change waits for a person's approval
            subjects.CONFIRMATION_SET,
            subjects.chat_decide(RUN),
            subjects.service_ping(subjects.CRUD_SERVICE),
            subjects.service_ping(subjects.WORKER_SERVICE),
            f"$JS.API.CONSUMER.CREATE.{subjects.UI_STREAM}",
            f"$JS.API.CONSUMER.CREATE.{subjects.RUN_EVENTS_STREAM}",
            f"$JS.API.STREAM.INFO.{subjects.UI_STREAM}",
        ],
        ["_INBOX_gateway.x", subjects.run_events(RUN)],  # a run's events, live
    ),
}
# Nobody may read another service's replies.
OTHERS_REPLIES = {"crud": "_INBOX_gateway.x", "llm_worker": "_INBOX_crud.x", "gateway": "_INBOX_llm_worker.x"}
# What no one but crud may do: listen on its endpoints, publish UI events.
CRUD_ONLY = ([subjects.ui_event(subjects.TASK_ENTITY, "created"), subjects.UI_NOTIFY], [subjects.CRUD_ALL, CREATE])
# No service may change, seal, purge or delete a stream (only the admin user may): tests/deploy/test_permissions.py
# tries each on a real server.
NOBODY = (
    [f"$JS.API.STREAM.{op}.{s.name}" for s in STREAMS for op in ("UPDATE", "DELETE", "PURGE", "MSG.DELETE")]
    + ["$JS.API.STREAM.CREATE.OTHER", "$JS.API.STREAM.UPDATE.OTHER", f"$JS.API.CONSUMER.DELETE.{RUNS_API}"],
    [subjects.CHAT_SUBMIT, ">", "$SRV.>", "$JS.>"],
)


@pytest.fixture(scope="module")
def allowed() -> dict[str, Permissions]:
    return permissions()


def test_subject_matching_follows_nats() -> None:
    assert matches("crud.>", "crud.task.create") and not matches("crud.>", "crud")
    assert matches("chat.cancel.*", "chat.cancel.r1") and not matches("chat.cancel.*", "chat.cancel.r1.x")
    assert covers("crud.>", "crud.task.*") and not covers("crud.task.*", "crud.>")
    assert not covers("$SRV.*.crud", "$SRV.*.*") and covers("$SRV.*", "$SRV.PING")


@pytest.mark.parametrize("user", USERS)
def test_each_user_may_use_the_subjects_its_service_needs(allowed: dict[str, Permissions], user: str) -> None:
    publish, subscribe = NEEDS[user]
    assert [s for s in publish if not allowed[user].may_publish(s)] == []
    assert [s for s in subscribe if not allowed[user].may_subscribe(s)] == []
    # Each reads the streams' info (the gateway and the workers wait for them at start); crud creates them.
    for stream in STREAMS:
        assert allowed[user].may_publish(f"$JS.API.STREAM.INFO.{stream.name}"), stream.name
        assert allowed[user].may_publish(f"$JS.API.STREAM.CREATE.{stream.name}") == (user == "crud"), stream.name


@pytest.mark.parametrize("user", ["llm_worker", "gateway"])
def test_only_crud_listens_on_its_endpoints_and_publishes_ui_events(allowed: dict[str, Permissions], user: str) -> None:
    publish, subscribe = CRUD_ONLY
    assert [s for s in publish if allowed[user].may_publish(s)] == []
    assert [s for s in subscribe if allowed[user].may_subscribe(s)] == []


@pytest.mark.parametrize("user", USERS)
def test_nobody_may_drop_a_stream_or_listen_everywhere(allowed: dict[str, Permissions], user: str) -> None:
    publish, subscribe = NOBODY
    assert [s for s in publish if allowed[user].may_publish(s)] == []
    assert [s for s in subscribe if allowed[user].may_subscribe(s)] == []


@pytest.mark.parametrize("user", USERS)
def test_nobody_reads_another_service_s_replies(allowed: dict[str, Permissions], user: str) -> None:
    assert not allowed[user].may_subscribe(OTHERS_REPLIES[user])
    assert not allowed[user].may_subscribe("_INBOX.x"), "the shared default inbox is closed"


def test_the_gateway_neither_writes_runs_events_nor_answers_for_a_service(allowed: dict[str, Permissions]) -> None:
    gateway = allowed["gateway"]
    assert not gateway.may_publish(subjects.run_event(RUN, 1, 0))
    assert not gateway.may_subscribe("$SRV.PING.crud") and not gateway.may_subscribe("$SRV.PING.llm_worker")
    assert not allowed["crud"].may_subscribe("$SRV.PING.llm_worker")
    assert not allowed["llm_worker"].may_subscribe("$SRV.PING.crud")


PASSWORDS = {user: f"{user}-from-env" for user in COMPOSE_PASSWORDS}


def test_the_compose_config_is_valid_with_every_password_from_the_environment() -> None:
    env = {COMPOSE_PASSWORDS[user]: password for user, password in PASSWORDS.items()}
    checked = check_config(DEPLOY / "server.conf", env)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("missing", sorted(COMPOSE_PASSWORDS.values()))
def test_the_compose_config_refuses_to_start_without_a_password(missing: str) -> None:
    env = {var: "x" for var in COMPOSE_PASSWORDS.values() if var != missing}
    checked = check_config(DEPLOY / "server.conf", env)
    assert checked.returncode != 0 and missing in checked.stderr, checked.stderr


def test_the_local_config_is_valid() -> None:
    checked = check_config(DEPLOY / "local.conf", {})
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def compose_nats(tmp_path: Path) -> Iterator[ComposeNats]:
    server = ComposeNats(tmp_path / "nats", PASSWORDS)
    server.start()
    yield server
    server.stop()


async def nats_answer_to(port: int, user: str, password: str) -> str:
    """The server's first answer to a CONNECT with this user and password, on the NATS wire protocol."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert (await reader.readline()).startswith(b"INFO ")
        connect = {"user": user, "pass": password, "verbose": False, "pedantic": False, "protocol": 1}
        writer.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_the_compose_config_admits_each_user_with_its_password_from_the_environment(
    compose_nats: ComposeNats,
) -> None:
    for user, password in PASSWORDS.items():
        assert await nats_answer_to(compose_nats.port, user, password) == "PONG", user
    assert violations(compose_nats.log) == []
    # The local passwords of make run mean nothing to it.
    for user in USERS:
        assert await nats_answer_to(compose_nats.port, user, f"{user}-local") == "-ERR 'Authorization Violation'"


async def test_the_compose_config_applies_the_same_permissions(compose_nats: ComposeNats) -> None:
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    url = compose_nats.url("gateway", PASSWORDS["gateway"])
    nc = await nats.connect(url, error_cb=on_error, allow_reconnect=False)
    try:
        await nc.publish(subjects.ui_event(subjects.TASK_ENTITY, "created"), b"{}")
        await nc.flush()
        async with asyncio.timeout(5):
            while not errors:
                await asyncio.sleep(0.02)
    finally:
        await nc.close()
    assert "permissions violation" in errors[0].lower()
