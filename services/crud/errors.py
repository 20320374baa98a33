"""crud's own exceptions: a command refused, carrying the error its sender gets back; a command id reused."""

from __future__ import annotations

from proto.messages import CommandError, ErrorCode


class Refused(Exception):
    """A command that cannot be applied as asked; its error goes back to whoever sent it."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = CommandError(code=code, message=message)


class IdReused(Exception):
    """A command id already stands for another command: nothing is done, and the stored result of the other
    command is not given either (it would say that something else was done)."""

    def __init__(self, command_id: str, stored_op: str) -> None:
        super().__init__(
            f"Command id {command_id} was already used for another command ({stored_op}); this one was not"
            " carried out. Send it under a new id."
        )
        self.command_id = command_id
