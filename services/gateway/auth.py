"""The optional access token: with GATEWAY_ACCESS_TOKEN set, every page, stream and API call needs the
session cookie the login page sets (or `Authorization: Bearer <token>` for scripts)."""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import SimpleCookie
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "ghostbus_session"
OPEN_PATHS = ("/healthz", "/login", "/static/", "/assets/")

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>ghostbus · sign in</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="login"><h1>ghostbus</h1>
<form method="post" action="/login"><input type="password" name="token" placeholder="Access token"
 aria-label="Access token" autofocus required><button type="submit">Sign in</button></form>
<p class="form-error" role="alert">{error}</p></main></body></html>"""


def session_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the token itself never sits in the browser."""
    return hmac.new(token.encode(), b"ghostbus-session", hashlib.sha256).hexdigest()


def _allowed(token: str, headers: dict[str, str]) -> bool:
    bearer = headers.get("authorization", "")
    if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].encode(), token.encode()):
        return True
    cookie = SimpleCookie()
    cookie.load(headers.get("cookie", ""))
    session = cookie.get(COOKIE)
    return session is not None and hmac.compare_digest(session.value, session_value(token))


class TokenGate:
    """ASGI middleware in front of everything but the login page, health and static files."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if _allowed(self.token, headers):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "sign in first"})
            return
        response: Response
        if scope.get("method") == "GET" and "text/html" in headers.get("accept", ""):
            response = RedirectResponse("/login", status_code=303)
        else:
            response = JSONResponse({"error": "sign in first (or send Authorization: Bearer <token>)"}, 401)
        await response(scope, receive, send)


async def login(request: Request) -> Response:
    token: str | None = request.app.state.access_token
    if token is None:
        return RedirectResponse("/", status_code=303)
    if request.method == "GET":
        return HTMLResponse(LOGIN_PAGE.format(error=""))
    form = await request.form()
    given = str(form.get("token", ""))
    if not hmac.compare_digest(given.encode(), token.encode()):
        return HTMLResponse(LOGIN_PAGE.format(error="That is not the access token."), status_code=401)
    response = RedirectResponse("/", status_code=303)
    secure: Any = request.url.scheme == "https"
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", secure=secure, path="/")
    return response
