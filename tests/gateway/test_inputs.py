"""Whatever a client sends, the answer is a 4xx that says why, never a 500: bodies are capped before they
are read, only the expected content types are parsed, deep nesting is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

HX = {"HX-Request": "true"}
JSON = {"Content-Type": "application/json"}


async def test_deeply_nested_json_is_refused_in_words(gateway_url: str) -> None:
    nested = b'{"command": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        for path in ("/api/commands", "/api/tasks", "/api/runs/r1/confirmations/c1"):
            got = await client.post(path, content=nested[:60_000], headers=JSON)
            assert got.status_code == 422 and "nested too deeply" in got.json()["error"], path


async def test_a_large_body_gets_413_before_it_is_sent(gateway_url: str) -> None:
    # Only the headers are sent: the gateway answers from the declared length, without waiting for 80 MB.
    port = urlsplit(gateway_url).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 80000000\r\n\r\n{"
    )
    try:
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert status.startswith(b"HTTP/1.1 413")


async def test_a_large_body_without_a_length_is_cut_off_as_it_comes(gateway_url: str) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(1024):  # 16 MB, if it were all read
            sent += 16_384
            yield b"x" * 16_384
        yield b'"}'

    async with httpx.AsyncClient(base_url=gateway_url) as client:
        streamed = await client.post("/api/tasks", content=chunks(), headers=JSON)
        exact = await client.post("/api/tasks", content=b'{"name": "' + b"x" * 70_000 + b'"}', headers=JSON)
        form = await client.post("/tasks", data={"name": "x" * 70_000}, headers=HX)
        listed = await client.get("/api/tasks")
    assert streamed.status_code == 413 and exact.status_code == 413 and form.status_code == 413
    assert "64 KB" in exact.text
    assert listed.json() == []


async def test_a_file_posted_to_the_page_s_forms_is_not_a_task(gateway_url: str) -> None:
    upload = {"name": ("notes.txt", b"milk", "text/plain")}
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        added = await client.post("/tasks", files=upload, headers=HX)
        renamed = await client.post("/tasks/1/rename", files=upload, headers=HX)
        as_json = await client.post("/tasks", json={"name": "milk"}, headers=HX)
        listed = await client.get("/api/tasks")
        # The page's own forms still work, with fields or with nothing at all.
        made = await client.post("/tasks", data={"name": "milk"}, headers=HX)
        toggled = await client.post("/tasks/1/toggle", headers=HX)
    assert added.status_code == 415 and renamed.status_code == 415 and as_json.status_code == 415
    assert "form fields" in added.text
    assert listed.json() == []
    assert made.status_code == 200 and toggled.status_code == 200, toggled.text


async def test_odd_input_never_gets_a_500(gateway_url: str) -> None:
    bodies = [
        b"",
        b"\xff\xfe not utf-8",
        b"null",
        b"[]",
        b'"text"',
        b"NaN",
        b"1" * 5000,
        b'{"name": ' + b"9" * 5000 + b"}",
        b'{"name": {"a": 1}}',
        b'{"name": ["x"]}',
        b'{"name": null}',
        b'{"command": "create"}',
        b'{"command": {"op": "create", "name": 5}}',
        b'{"command": {"op": ["create"]}}',
        b'{"command": {"op": "toggle", "id": "one"}}',
        b'{"command": {"op": "toggle", "id": 1.5}}',
        b'{"approve": "yes"}',
        b"{" * 70_000,
    ]
    paths = ["/api/tasks", "/api/commands", "/api/runs/r1/confirmations/c1", "/api/runs/..%2F/confirmations/x"]
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        for path in paths:
            for body in bodies:
                for kind in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
                    got = await client.post(path, content=body, headers={"Content-Type": kind})
                    assert 400 <= got.status_code < 500, (path, body[:30], kind, got.status_code, got.text[:200])
        for body in bodies:
            got = await client.post("/tasks", content=body, headers=HX | {"Content-Type": "multipart/form-data; a"})
            assert 400 <= got.status_code < 500, (body[:30], got.status_code)
            got = await client.post("/tasks/1/rename", content=body, headers=HX)
            assert 400 <= got.status_code < 500, (body[:30], got.status_code)
