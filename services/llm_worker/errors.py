"""The llm_worker's own errors, each saying what went wrong in words a person can act on."""

from __future__ import annotations


class CrudUnavailable(RuntimeError):
    """The crud service did not answer, or answered with something that is not the contract."""

    def __init__(self, subject: str, reason: str) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(f"the task service did not answer on {subject}: {reason}")


class HandedBack(Exception):
    """The run cannot go on in this worker (it is stopping); another one takes it from the queue."""
