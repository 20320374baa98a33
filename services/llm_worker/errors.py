"""The llm_worker's own errors, each saying what went wrong in words a person can act on."""

from __future__ import annotations


class HandedBack(Exception):
    """The run cannot go on in this worker (it is stopping); another one takes it from the queue."""
