"""The names the gateway answers to: a request for any other `Host` (a DNS-rebinding page) gets 400."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost"})


def host_name(value: str) -> str | None:
    """The host of a `Host` header or an origin's authority, lower case, without port or brackets."""
    try:
        name = urlsplit("//" + value).hostname
    except ValueError:
        return None
    return name or None


def is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    """Loopback names and addresses, the address the gateway listens on (when it is one address, not
    all of them), and the names in GATEWAY_ALLOWED_HOSTS."""

    def __init__(self, listen_on: str, extra: str) -> None:
        names = {n.strip().lower().strip("[]") for n in extra.split(",") if n.strip()}
        try:
            address = ipaddress.ip_address(listen_on.strip("[]"))
        except ValueError:
            address = None
        if address is not None and not address.is_unspecified:
            names.add(str(address))  # an address cannot be rebound: a page reaching it by it is this site
        self.names = frozenset(names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (is_loopback(name) or name in self.names)

    def origin_allowed(self, origin: str) -> bool:
        """Whether a page from this `Origin` is one this gateway serves."""
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and host_name(parts.netloc) in self


class HostGate:
    """ASGI middleware: 400 for a request whose `Host` is not an allowed one (before anything else runs).

    It hands on the awaitable of what answers instead of awaiting it, as SecurityHeaders does: no frame of its
    own stays suspended while an event stream is open."""

    def __init__(self, app: ASGIApp, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if host_name(host) in self.allowed:
            return self.app(scope, receive, send)
        refusal = PlainTextResponse(
            "Unknown host: this gateway answers only to its own names (GATEWAY_ALLOWED_HOSTS adds one).", 400
        )
        if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
            # Starlette sends it as the WebSocket's denial response (ASGI's extension) on /ws.
            return refusal(scope, receive, send)
        return send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
