"""Request bodies: at most MAX_BODY bytes, refused with 413 before more is read (a declared length is
checked first; a body without one, or lying about it, is counted as it arrives)."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # a command or a form is a few hundred bytes; nothing the gateway takes is larger


def _too_large() -> PlainTextResponse:
    return PlainTextResponse(f"The request body is larger than {MAX_BODY // 1024} KB.", status_code=413)


class BodyLimit:
    """ASGI middleware: reads a request's body (up to the limit) before the app sees it, and hands it on."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (a GET, an event stream)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left while sending
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                given, body = body, None
                return given
            return await receive()

        await self.app(scope, replay, send)
