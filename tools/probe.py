"""A black-box abuse pass against a running stack (`make run`): bad HTTP input, bad chat frames, foreign Host
and Origin headers, retried writes, and each service's NATS user trying what it must not. It reads only the
public interfaces (HTTP, /ws, NATS with each service's own password) and prints one line per check; the exit
status is the number of checks that failed.

    make run            # in one terminal
    .venv/bin/python -m tools.probe [--url http://127.0.0.1:8000] [--nats 127.0.0.1:4222]

It leaves the list as it found it, except for tasks named "probe …", which it deletes at the end."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit

import nats
import websockets
from nats.errors import Error as NatsError

# make run's local NATS users (deploy/nats/local-users.conf): loopback only, well known on purpose.
USERS = {"crud": "crud-local", "llm_worker": "llm_worker-local", "gateway": "gateway-local"}
STREAMS = ("UI", "CHAT_RUNS", "CHAT_EVENTS")

failures: list[str] = []


def report(ok: bool, what: str, seen: str = "") -> None:
    print(("ok    " if ok else "FAIL  ") + what + (f": {seen}" if seen else ""))
    if not ok:
        failures.append(what)


def request(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} | (headers or {}))
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def http_checks(url: str) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    bad: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("deeply nested JSON", "/api/commands", deep, {}),
        (
            "an id past SQLite's integers",
            "/api/commands",
            json.dumps({"command": {"op": "toggle", "id": 2**70}}).encode(),
            {},
        ),
        ("a command that is no command", "/api/commands", b'{"command": {"op": "drop_table"}}', {}),
        ("not JSON at all", "/api/tasks", b"\xff\xfe{", {}),
        ("an empty name", "/api/tasks", b'{"name": ""}', {}),
        ("a name with a control character", "/api/tasks", b'{"name": "a\\u0007b"}', {}),
        ("a body of 2 MB", "/api/tasks", b'{"name": "' + b"x" * 2_000_000 + b'"}', {}),
        (
            "a file posted to the page's form",
            "/tasks",
            b'--b\r\nContent-Disposition: form-data; name="name"; filename="x.txt"\r\n\r\nhello\r\n--b--\r\n',
            {"Content-Type": "multipart/form-data; boundary=b", "HX-Request": "true"},
        ),
        (
            "a form with the wrong content type",
            "/tasks",
            b"name=probe",
            {"Content-Type": "text/plain", "HX-Request": "true"},
        ),
        ("a form from another site", "/tasks", b"name=probe", {"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    for what, path, body, headers in bad:
        status, text = request(url, "POST", path, body, headers)
        report(400 <= status < 500, f"HTTP {what} is refused in words", f"{status} {text[:90]!r}")
    status, _ = request(url, "GET", "/api/tasks", headers={"Host": "evil.example"})
    report(status == 400, "a request for a foreign host name (DNS rebinding) is refused", str(status))
    status, _ = request(url, "GET", "/")
    report(status == 200, "the page itself is served", str(status))

    key = str(uuid.uuid4())
    body = json.dumps({"name": f"probe {key[:8]}"}).encode()
    first = request(url, "POST", "/api/tasks", body, {"Idempotency-Key": key})
    again = request(url, "POST", "/api/tasks", body, {"Idempotency-Key": key})
    other = request(url, "POST", "/api/tasks", b'{"name": "probe other"}', {"Idempotency-Key": key})
    made = [t for t in json.loads(request(url, "GET", "/api/tasks")[1]) if t["name"] == f"probe {key[:8]}"]
    report(
        first[0] == 201 and again == first and other[0] == 422 and len(made) == 1,
        "a retried create under one Idempotency-Key makes one task; another body under it is 422",
        f"{first[0]}, {again[0]}, {other[0]}, {len(made)} made",
    )


async def ws_checks(url: str) -> None:
    ws_url = url.replace("http://", "ws://") + "/ws"
    try:
        async with websockets.connect(ws_url, additional_headers={"Origin": "http://evil.example"}):
            report(False, "a chat socket from a foreign page is refused", "it was opened")
    except websockets.InvalidStatus as error:
        report(
            error.response.status_code == 403,
            "a chat socket from a foreign page is refused",
            str(error.response.status_code),
        )
    frames: list[tuple[str, str | bytes]] = [
        ("a binary frame", b"\x00\x01"),
        ("8,000 nested brackets", "[" * 8000 + "]" * 8000),
        ("not JSON", "hello"),
        ("a chat with no text", '{"type": "chat"}'),
        ("an unknown frame type", '{"type": "launch"}'),
        ("a cancel of an unknown run", '{"type": "cancel", "runId": "no-such-run"}'),
        ("a resume of a malformed run id", '{"type": "resume", "runId": "../../etc"}'),
    ]
    async with websockets.connect(ws_url, max_size=None) as ws:
        for what, frame in frames:
            await ws.send(frame)
            answer = await next_error(ws)
            report(answer is not None, f"chat: {what} gets an error frame", (answer or {}).get("message", "")[:90])
        report(ws.state.name == "OPEN", "chat: the socket stays open after every bad frame", ws.state.name)


async def next_error(ws: Any) -> dict[str, Any] | None:
    """The next `error` frame (other frames, such as the conversation's history, are passed over)."""
    try:
        async with asyncio.timeout(5):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "error":
                    return message
    except TimeoutError:
        return None


async def nats_checks(server: str) -> None:
    admin = await nats.connect(f"nats://admin:admin-local@{server}")
    js = admin.jetstream()
    before = {name: await js.stream_info(name) for name in STREAMS}
    for user, password in USERS.items():
        refused: list[str] = []
        errors: list[Exception] = []

        async def on_error(error: Exception, errors: list[Exception] = errors) -> None:
            errors.append(error)

        nc = await nats.connect(f"nats://{user}:{password}@{server}", error_cb=on_error)
        attempts = [
            (f"{verb} {name}", f"$JS.API.STREAM.{verb.upper()}.{name}")
            for verb in ("update", "purge", "delete")
            for name in STREAMS
        ]
        for what, subject in attempts:
            payload = json.dumps({"name": subject.rsplit(".", 1)[1], "max_msgs": 1}).encode()
            try:
                answer = await nc.request(subject, payload, timeout=1)
            except NatsError:
                refused.append(what)
            else:
                if b'"error"' in answer.data:
                    refused.append(what)
        if user != "crud":
            await nc.publish("ui.task.created", b'{"forged": true}')
        await nc.flush()
        await asyncio.sleep(0.3)  # the server's permission errors come back asynchronously
        await nc.close()
        report(
            len(refused) == len(attempts),
            f"NATS user {user} may not update, purge or delete any stream",
            f"{len(refused)}/{len(attempts)} refused, {len(errors)} permission errors",
        )
    after = {name: await js.stream_info(name) for name in STREAMS}
    for name in STREAMS:
        same = after[name].config == before[name].config and after[name].state.messages >= before[name].state.messages
        report(same, f"stream {name} is as it was", f"{after[name].state.messages} messages")
    await admin.close()


def clean_up(url: str) -> None:
    for task in json.loads(request(url, "GET", "/api/tasks")[1]):
        if task["name"].startswith("probe"):
            request(url, "DELETE", f"/api/tasks/{task['id']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--nats", default="127.0.0.1:4222")
    args = parser.parse_args()
    http_checks(args.url)
    asyncio.run(ws_checks(args.url))
    asyncio.run(nats_checks(args.nats))
    status, _ = request(args.url, "GET", "/healthz")
    report(status == 200, "the gateway is healthy after it all", str(status))
    clean_up(args.url)
    print(f"{len(failures)} failed" if failures else "every check held")
    return len(failures)


if __name__ == "__main__":
    sys.exit(main())
