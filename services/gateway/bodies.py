"""Request bodies: at most MAX_BODY bytes, refused with 413 before more is read (a declared length is
checked first; a body without one, or lying about it, is counted as it arrives)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # a command or a form is a few hundred bytes; nothing the gateway takes is larger


def _too_large() -> PlainTextResponse:
    return PlainTextResponse(f"The request body is larger than {MAX_BODY // 1024} KB.", status_code=413)


class BodyLimit:
    """ASGI middleware: reads a request's body (up to the limit) before the app sees it, and hands it on.

    A request without a body gets the app's own awaitable, not one of this middleware's: no frame of its own
    stays suspended while an event stream is open (see SecurityHeaders)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            return self.app(scope, receive, send)  # no body (a GET, an event stream)
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return _too_large()(scope, receive, send)
        return self._read(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
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
