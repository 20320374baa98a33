"""The sentences a command's result says about what it did, each written once for every path that does it."""

from __future__ import annotations

from collections.abc import Sequence

MAX_LISTED = 10
"""The most names a sentence lists; the rest are counted."""


def quoted(name: str) -> str:
    return f"“{name}”"


def names(listed: Sequence[str]) -> str:
    """The first MAX_LISTED names, quoted, and how many more there are."""
    shown = ", ".join(quoted(name) for name in listed[:MAX_LISTED])
    more = f" and {len(listed) - MAX_LISTED} more" if len(listed) > MAX_LISTED else ""
    return shown + more


def added(name: str, place: int | None = None) -> str:
    """`place` (0 is the top) when the task did not go to the end of the list."""
    where = "" if place is None else f" at place {place + 1}"
    return f"Added {quoted(name)}{where}."


def deleted(name: str) -> str:
    return f"Deleted {quoted(name)}."


def marked(name: str, done: bool) -> str:
    return f"Marked {quoted(name)} {_state(done)}."


def already(name: str, done: bool) -> str:
    return f"{quoted(name)} was already {_state(done)}."


def renamed(old: str, new: str) -> str:
    return f"Renamed {quoted(old)} to {quoted(new)}."


def same_name(name: str) -> str:
    return f"{quoted(name)} already has that name."


def moved(name: str, place: int) -> str:
    return f"Moved {quoted(name)} to place {place + 1}."


def reordered(count: int) -> str:
    return f"Put the {count} tasks in the new order."


def cleared(done: Sequence[str]) -> str:
    if not done:
        return "There is nothing done to clear."
    return f"Cleared {len(done)} done: {names(done)}."


def undid(sentences: Sequence[str]) -> str:
    """An undo, quoting the summaries of the commands it took back."""
    if len(sentences) == 1:
        return f"Undid: {sentences[0]}"
    return f"Undid {len(sentences)} changes: " + " ".join(sentences)


def notice_sent() -> str:
    return "Sent a notice."


def confirmation(state: str, question: str) -> str:
    """A confirmation asked or answered, as the audit trail shows it."""
    return f"{state.capitalize()}: {question}"


def _state(done: bool) -> str:
    return "done" if done else "not done"
