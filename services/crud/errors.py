"""crud's own exception: a command refused, carrying the error its sender gets back."""

from __future__ import annotations

from proto.messages import CommandError, ErrorCode


class Refused(Exception):
    """A command that cannot be applied as asked; its error goes back to whoever sent it."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = CommandError(code=code, message=message)
