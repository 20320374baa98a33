"""Connecting a service to NATS: wait for the server at start, then reconnect forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

from nats.aio.client import Client
from nats.micro.service import Service

log = logging.getLogger(__name__)


class BusUnavailable(RuntimeError):
    """NATS did not answer at start within the allowed time."""

    def __init__(self, url: str, waited_s: float, cause: BaseException | None) -> None:
        self.url = redacted(url)
        self.waited_s = waited_s
        reason = f" ({cause!r})" if cause is not None else ""
        super().__init__(f"NATS at {self.url} did not answer within {waited_s:.0f} s{reason}; is nats-server running?")


class BusRefused(RuntimeError):
    """NATS answered at start but refused the service's user or password: waiting would not help."""

    def __init__(self, url: str, cause: BaseException) -> None:
        self.url = redacted(url)
        super().__init__(
            f"NATS at {self.url} refused this user or password ({cause}); check the credentials in NATS_URL"
        )


async def connect(url: str, name: str, wait_s: float = 30.0) -> Client:
    """Connect to NATS, waiting up to `wait_s` while the server starts (services may start before it),
    then keep reconnecting for as long as the service runs. Raises BusUnavailable when no server answered
    in time, BusRefused at once when the server refuses the credentials."""
    nc = Client()
    start = _FirstConnect(url)
    servers = server_list(url)
    user, password = _credentials(servers)
    connecting = asyncio.ensure_future(
        nc.connect(
            servers,
            name=name,
            # Given once for every server, so they are sent to a server the cluster announces too (nats-py
            # takes a URL's own credentials only for the URLs it was given).
            user=user,
            password=password,
            connect_timeout=2,
            allow_reconnect=True,
            # -1 keeps reconnecting forever once connected; nats-py applies it to the first connect too
            # (it never gives up), so the wait at start is bounded here instead.
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # typed int, used as seconds to sleep
            # Replies come to this service's own inboxes, so NATS permissions can keep each service
            # from reading another's replies (deploy/nats/permissions.conf).
            inbox_prefix=inbox_prefix(name),
            error_cb=start.on_error,
            disconnected_cb=_on_disconnected,
            reconnected_cb=_on_reconnected,
        )
    )
    try:
        await asyncio.wait({connecting, start.refused}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        start.refused.cancel()
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
    failed = None if connecting.cancelled() else connecting.exception()
    if not connecting.cancelled() and failed is None:
        start.connected = True
        return nc
    with contextlib.suppress(Exception):
        await nc.close()
    if start.refusal is not None:
        raise BusRefused(url, start.refusal)
    if failed is not None:
        raise failed  # not the server missing (that is retried): a malformed URL, for one
    raise BusUnavailable(url, wait_s, start.last)


class _FirstConnect:
    """Errors while a service connects for the first time: one line to say it waits, the last one kept
    for the message when it gives up, a refused password noticed at once."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connected = False
        self.last: BaseException | None = None
        self.refusal: BaseException | None = None
        self.refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_error(self, error: Exception) -> None:
        if self.connected:
            await _on_error(error)
            return
        if self.last is None:
            log.info("waiting for NATS at %s (%s)", redacted(self.url), error.__class__.__name__)
        self.last = error
        if "authorization violation" in str(error).lower() and not self.refused.done():
            self.refusal = error
            self.refused.set_result(None)


# nats-py logs every failed reconnect attempt with a traceback unless given callbacks: one line each.
async def _on_error(error: Exception) -> None:
    log.warning("NATS: %s", error.__class__.__name__ if not str(error) else error)


async def _on_disconnected() -> None:
    # Also called on a clean close, so it only says what happened.
    log.info("NATS: disconnected")


async def _on_reconnected() -> None:
    log.info("NATS: reconnected")


async def close(nc: Client, timeout_s: float = 5.0) -> None:
    """Drain the connection when the server is there (pending publishes go out); otherwise just close.
    nats-server may stop at the same moment as the service (Ctrl-C under honcho), so this never raises,
    except to pass on a cancellation of the closing task itself."""
    try:
        await _close(nc, timeout_s)
    except asyncio.CancelledError:
        # nats-py lets the cancellation of its own socket waits escape drain() and close() when the
        # server vanished first (seen on Ctrl-C of make run).
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.info("NATS: the connection was already gone at shutdown")


async def stop_service(nc: Client, service: Service, timeout_s: float = 2.0) -> None:
    """Stop a nats.micro service at shutdown without waiting on a server that is gone: stopping drains
    each endpoint, which waits up to 10 s for the server's answer (nats-server may stop at the same
    moment, on Ctrl-C). Without a connection there is nothing to undo: the server forgets a closed
    connection's subscriptions."""
    if not nc.is_connected:
        return
    try:
        await asyncio.wait_for(service.stop(), timeout_s)
    except Exception as error:  # noqa: BLE001 - shutting down; the connection is closed next
        log.info("NATS: stopping service %s failed at shutdown (%s)", service.info().name, error.__class__.__name__)


async def _close(nc: Client, timeout_s: float) -> None:
    if nc.is_closed:
        return
    try:
        if nc.is_connected:
            await asyncio.wait_for(nc.drain(), timeout_s)
            return
    except Exception as error:  # noqa: BLE001 - shutting down; report and close below
        log.info("NATS: drain failed at shutdown (%s); closing", error.__class__.__name__)
    try:
        await nc.close()
    except Exception:  # noqa: BLE001 - already gone
        pass


def server_list(url: str) -> list[str]:
    """NATS_URL's servers: one URL, or several separated by commas (the nodes of a cluster, tried in turn
    and moved to when the one in use goes away). Raises ValueError for an empty entry or differing users."""
    servers = [part.strip() for part in url.split(",")]
    if not all(servers):
        raise ValueError(f"NATS_URL {redacted(url)!r} has an empty server between its commas")
    _credentials(servers)
    return servers


def _credentials(servers: list[str]) -> tuple[str | None, str | None]:
    """The one user and password the servers' URLs carry (None: none given)."""
    found = {(urlsplit(s).username, urlsplit(s).password) for s in servers} - {(None, None)}
    if len(found) > 1:
        raise ValueError("NATS_URL's servers name different users or passwords: a service has one NATS user")
    return next(iter(found), (None, None))


def inbox_prefix(service: str) -> str:
    """The prefix of a service's reply subjects: `_INBOX_<service>`."""
    return f"_INBOX_{service}"


def redacted(url: str) -> str:
    """The URL (or comma-separated URLs) without its password, for logs."""
    if "," in url:
        return ",".join(redacted(part.strip()) for part in url.split(","))
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}{port}"))
