"""The optional access token: with GATEWAY_ACCESS_TOKEN set, every page, stream and API call needs the
session cookie the login page sets (or `Authorization: Bearer <token>` for scripts). Wrong guesses are
throttled per client address; a session lasts GATEWAY_SESSION_HOURS, and `POST /logout` ends it."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.limits import SlidingWindow

COOKIE = "ghostbus_session"
OPEN_PATHS = ("/healthz", "/login", "/logout", "/static/", "/assets/")
GUESSES_PER_MINUTE = 10  # wrong tokens one client address may try in a minute; then 429 until it passes

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>ghostbus · sign in</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="login"><h1>ghostbus</h1>
<form method="post" action="/login"><input type="password" name="token" placeholder="Access token"
 aria-label="Access token" autofocus required><button type="submit">Sign in</button></form>
<p class="form-error" role="alert">{error}</p></main></body></html>"""


class Sessions:
    """Session cookies: the time they were issued and a MAC of it under the token, so the token itself
    never sits in the browser and a copied cookie stops working when its lifetime ends."""

    def __init__(self, token: str, lifetime_s: float) -> None:
        self.token = token
        self.lifetime_s = lifetime_s

    def _mac(self, issued: str) -> str:
        return hmac.new(self.token.encode(), b"ghostbus-session:" + issued.encode(), hashlib.sha256).hexdigest()

    def issue(self, now: float | None = None) -> str:
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._mac(issued)}"

    def valid(self, value: str) -> bool:
        issued, _, mac = value.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(mac.encode(), self._mac(issued).encode()):
            return False
        return 0 <= time.time() - int(issued) < self.lifetime_s

    def bearer_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token.encode())


def guess_throttle() -> SlidingWindow:
    """Wrong guesses per client address: past GUESSES_PER_MINUTE, the address is answered 429 without its
    guess being looked at."""
    return SlidingWindow(GUESSES_PER_MINUTE)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer_of(headers: dict[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 9110)."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _session_cookie(headers: dict[str, str]) -> str | None:
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except CookieError:
        return None
    session = cookie.get(COOKIE)
    return session.value if session is not None else None


def _too_many(retry_after: int) -> JSONResponse:
    return JSONResponse(
        {"error": f"too many wrong tokens from this address; try again in {retry_after} s"},
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )


class TokenGate:
    """ASGI middleware in front of everything but the login page, health and static files. It hands on the
    awaitable of what answers, as SecurityHeaders does: no frame of its own stays suspended while a stream is
    open."""

    def __init__(self, app: ASGIApp, sessions: Sessions, throttle: SlidingWindow) -> None:
        self.app = app
        self.sessions = sessions
        self.throttle = throttle

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(OPEN_PATHS):
            return self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is None:
            return self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return send({"type": "websocket.close", "code": 1008, "reason": "sign in first"})
        return refusal(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        """None when the request may pass; else the answer it gets."""
        session = _session_cookie(headers)
        if session is not None and self.sessions.valid(session):
            return None
        bearer = bearer_of(headers)
        if bearer is not None:
            address = client_address(scope)
            if wait := self.throttle.wait(address):
                return _too_many(wait)
            if self.sessions.bearer_ok(bearer):
                return None
            self.throttle.add(address)
        if scope.get("method") == "GET" and "text/html" in headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"error": "sign in first (or send Authorization: Bearer <token>)"}, 401)


async def login(request: Request) -> Response:
    sessions: Sessions | None = request.app.state.sessions
    if sessions is None:
        return RedirectResponse("/", status_code=303)
    if request.method == "GET":
        return HTMLResponse(LOGIN_PAGE.format(error=""))
    throttle: SlidingWindow = request.app.state.throttle
    address = client_address(request.scope)
    if wait := throttle.wait(address):
        error = f"Too many wrong tokens from here; try again in {wait} s."
        return HTMLResponse(LOGIN_PAGE.format(error=error), status_code=429, headers={"Retry-After": str(wait)})
    form = await request.form()
    given = form.get("token")
    if not isinstance(given, str) or not sessions.bearer_ok(given):
        throttle.add(address)
        return HTMLResponse(LOGIN_PAGE.format(error="That is not the access token."), status_code=401)
    throttle.clear(address)
    response = RedirectResponse("/", status_code=303)
    secure: Any = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        sessions.issue(),
        max_age=int(sessions.lifetime_s),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    """`POST /logout`: the browser forgets its session and is sent to the login page."""
    response = RedirectResponse("/login" if request.app.state.sessions is not None else "/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
