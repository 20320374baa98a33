"""Connecting a service to NATS: wait for the server at start, then reconnect forever."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client
from nats.micro.service import Service

log = logging.getLogger(__name__)


class BusUnavailable(RuntimeError):
    """NATS did not answer at start within the allowed time."""

    def __init__(self, url: str, waited_s: float, cause: BaseException) -> None:
        self.url = redacted(url)
        self.waited_s = waited_s
        super().__init__(
            f"NATS at {self.url} did not answer within {waited_s:.0f} s ({cause!r}); is nats-server running?"
        )


async def connect(url: str, name: str, wait_s: float = 30.0) -> Client:
    """Connect to NATS, retrying while the server starts (services may start before it), then
    keep reconnecting for as long as the service runs."""
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                # Replies come to this service's own inboxes, so NATS permissions can keep each service
                # from reading another's replies (deploy/nats/permissions.conf).
                inbox_prefix=inbox_prefix(name),
                error_cb=_on_error,
                disconnected_cb=_on_disconnected,
                reconnected_cb=_on_reconnected,
            )
        except (OSError, nats.errors.NoServersError, TimeoutError) as error:
            if time.monotonic() + delay > deadline:
                raise BusUnavailable(url, wait_s, error) from error
            log.info("waiting for NATS at %s", redacted(url))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


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


def inbox_prefix(service: str) -> str:
    """The prefix of a service's reply subjects: `_INBOX_<service>`."""
    return f"_INBOX_{service}"


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}{port}"))
