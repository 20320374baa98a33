"""The `Idempotency-Key` request header (IETF httpapi draft): a client's retry of a change is applied once.

The gateway keeps nothing: the key becomes the crud command id, and crud binds an id to its command. The
same key with the same command gets crud's stored result, so the same answer as the first time; with
another command crud refuses the id (a conflict), answered 422. crud keeps command ids for good, well
past the 24 hours the draft asks for."""

from __future__ import annotations

import hashlib

from starlette.requests import HTTPConnection

HEADER = "idempotency-key"
MAX_KEY = 255
KEY_REUSED = "409"
"""crud's error code for a command id that already stands for another command (nothing was done)."""
REUSED_MESSAGE = "This Idempotency-Key was already used for a different request; use a new key for a new change."


class BadKey(ValueError):
    """The header is there but is not a usable key."""


def command_id(connection: HTTPConnection) -> str | None:
    """The crud command id for the request's key; None when it sent none (each request is then new)."""
    raw = connection.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]  # the draft's form: a Structured Field string
    if not 1 <= len(key) <= MAX_KEY or not all(" " <= c <= "~" for c in key):
        raise BadKey(f"Idempotency-Key must be 1 to {MAX_KEY} printable ASCII characters (a UUID, say).")
    # Every request here acts as the person, so keys share one space: clients send random keys, as the
    # draft asks. Hashed, so a key of any characters makes a valid id of bounded length.
    digest = hashlib.sha256(b"ghostbus idempotency key\0person\0" + key.encode()).hexdigest()
    return "idem-" + digest[:48]
