#!/usr/bin/env python3
"""Stand-in for the ollama/ollama image's `ollama` binary: a scripted model behind Ollama's HTTP API."""

# `ollama serve` answers GET / , /api/version and /api/tags, and POST /api/pull and /api/chat (NDJSON
# streams, errors as {"error": ...} with Ollama's status codes); `ollama list` and `ollama pull NAME` are
# its clients, as with the real CLI. A model can be chatted with only once pulled, and what was pulled is
# kept under OLLAMA_MODELS, so it outlives a restart as it does on the real image's volume. The model
# answers a request "... add X" with one inline create command for X, anything else with "Done.";
# STANDIN_CHUNK_DELAY_S slows each streamed piece so that runs last long enough to be spread over workers.
# Standard library only: it runs on any python:3.11-slim, upstream or stand-in.

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODELS = Path(os.environ.get("OLLAMA_MODELS", str(Path.home() / ".ollama" / "models")))
DELAY_S = float(os.environ.get("STANDIN_CHUNK_DELAY_S", "0"))


def full_name(model: str) -> str:
    """Ollama's rule: a name without a tag means its `latest` tag."""
    return model if ":" in model else model + ":latest"


def pulled() -> list[str]:
    return sorted(path.name.replace("@", ":") for path in MODELS.glob("*@*")) if MODELS.is_dir() else []


def answer(messages: list[dict[str, Any]]) -> list[str]:
    """The scripted reply's pieces, as the model would stream them."""
    last = messages[-1] if messages else {}
    content = str(last.get("content", ""))
    if last.get("role") == "user" and "add " in content and not content.startswith("These commands"):
        item = content.rsplit("add ", 1)[1].strip()
        return [json.dumps({"op": "create", "name": item}) + "\n", "Added ", item, "."]
    return ["Done."]


def chat_line(model: str, content: str, done: bool, **final: object) -> dict[str, Any]:
    """One line of /api/chat's stream; the last one (done) carries the counts and durations."""
    line: dict[str, Any] = {"model": model, "created_at": "2026-01-01T00:00:00Z", "done": done}
    line["message"] = {"role": "assistant", "content": content}
    if done:
        line |= {"total_duration": 1, "load_duration": 1, "prompt_eval_count": 1, "prompt_eval_duration": 1}
        line |= {"eval_duration": 1} | final
    return line


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send_body(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, body: object, status: int = 200) -> None:
        self.send_body(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    def stream(self, lines: list[dict[str, Any]]) -> None:
        """NDJSON, chunked, each line flushed as it is ready (the client reads the stream as it comes)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            data = json.dumps(line).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            if DELAY_S and not line.get("done"):
                time.sleep(DELAY_S)
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/":
            self.send_body(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif self.path == "/api/version":
            self.send_json({"version": "0.0.0-standin"})
        elif self.path == "/api/tags":
            models = [{"name": m, "model": m, "size": 1, "digest": "0" * 64, "details": {}} for m in pulled()]
            self.send_json({"models": models})
        else:
            self.send_json({"error": "not found"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError as error:
            return self.send_json({"error": f"invalid JSON: {error}"}, 400)
        model = full_name(str(body.get("model") or body.get("name") or ""))
        if self.path == "/api/pull":
            MODELS.mkdir(parents=True, exist_ok=True)
            (MODELS / model.replace(":", "@")).write_text("stand-in\n")
            return self.stream([{"status": "pulling manifest"}, {"status": "success"}])
        if self.path != "/api/chat":
            return self.send_json({"error": "not found"}, 404)
        if model not in pulled():
            return self.send_json({"error": f'model "{body.get("model")}" not found, try pulling it first'}, 404)
        pieces = answer(body.get("messages") or [])
        lines = [chat_line(model, piece, done=False) for piece in pieces]
        lines.append(chat_line(model, "", done=True, done_reason="stop", eval_count=len(pieces)))
        self.stream(lines)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        sys.stderr.write("ollama-standin: " + format % args + "\n")


def address() -> tuple[str, int]:
    """OLLAMA_HOST as the real CLI reads it: [scheme://]host[:port], port 11434 by default."""
    raw = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434").split("://")[-1].rstrip("/")
    host, _, port = raw.rpartition(":") if raw.rpartition(":")[2].isdigit() else (raw, "", "")
    return host or "127.0.0.1", int(port or 11434)


def client(path: str, body: object | None = None) -> bytes:
    host, port = address()
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        read: bytes = response.read()
        return read


def main(argv: list[str]) -> int:
    command = argv or ["serve"]
    if command == ["serve"]:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        ThreadingHTTPServer(address(), Api).serve_forever()
    try:
        if command == ["list"]:
            print("NAME")
            for model in json.loads(client("/api/tags"))["models"]:
                print(model["name"])
            return 0
        if command[0] == "pull" and len(command) == 2:
            said = client("/api/pull", {"model": command[1]}).decode()
            print(said, end="")
            return 0 if '"success"' in said else 1
    except (OSError, urllib.error.URLError) as error:
        print(f"Error: could not connect to ollama app, is it running? ({error})", file=sys.stderr)
        return 1
    print("usage: ollama serve | list | pull MODEL", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
