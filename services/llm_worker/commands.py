"""An incremental parser that takes inline command blocks out of a model's token stream."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from proto.codec import DecodeError
from proto.commands import OPS, command_adapter
from services.llm_worker.backends.base import CommandOut, InvalidCommand, TextDelta

Parsed = TextDelta | CommandOut | InvalidCommand

MAX_COMMAND_CHARS = 1500
"""Longer than any valid command (a 200-character name, even escaped); anything longer is not one."""

_OP_KEY = re.compile(r'"op"\s*:')
_START = re.compile(r"[{`\[]")
# Outside strings, a JSON object holds only these; prose like `{"so" he said}` is let go early.
_JSON_CHARS = frozenset(" \t\r\n:,{}[]0123456789-+.eEtruefalsn")
_FENCE = "```"
_MAX_GAP = 16

_TEXT = "text"
_FENCE_OPEN = "fence"
_ARRAY_OPEN = "array"
_OBJECT = "object"
_BETWEEN = "between"
_SKIP = "skip"


class _Out:
    """Collects parser output, merging neighbouring text into one delta."""

    def __init__(self) -> None:
        self.items: list[Parsed] = []
        self._text: list[str] = []

    def text(self, value: str) -> None:
        if value:
            self._text.append(value)

    def add(self, item: CommandOut | InvalidCommand) -> None:
        self._flush()
        self.items.append(item)

    def done(self) -> list[Parsed]:
        self._flush()
        return self.items

    def _flush(self) -> None:
        if self._text:
            self.items.append(TextDelta("".join(self._text)))
            self._text = []


def judge(raw: str) -> CommandOut | InvalidCommand | None:
    """A whole `{...}` block: a command, a broken command, or (None) ordinary text."""
    try:
        value = json.loads(raw)
    except ValueError as error:
        if _OP_KEY.search(raw):
            return InvalidCommand(raw, f"the command is not valid JSON: {error}")
        return None
    if not isinstance(value, dict) or "op" not in value:
        return None
    try:
        return CommandOut(command_adapter.validate_python(value))
    except ValidationError as error:
        return InvalidCommand(raw, str(DecodeError("command", _problems(error))))


def _problems(error: ValidationError) -> list[str]:
    out = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"]]
        where = ".".join(loc[1:] if loc and loc[0] in OPS else loc)
        out.append(f"{where}: {item['msg']}" if where else item["msg"])
    return out[:5]


def _fence_status(held: str) -> str:
    """Whether `held` (starting with a backtick) opens a ```json fence around a command: partial, open or no."""
    if not _FENCE.startswith(held[:3]):
        return "no"
    if len(held) <= 3:
        return "partial"
    rest = held[3:]
    lang = rest[: len(rest) - len(rest.lstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))]
    if lang and not "json".startswith(lang.lower()):
        return "no"
    gap = rest[len(lang) :]
    if not gap:
        return "partial"
    if lang and lang.lower() != "json":
        return "no"
    if gap[-1] in "{[" and (len(gap) == 1 or gap[:-1].isspace()):
        return "open"
    return "partial" if gap.isspace() and len(gap) <= _MAX_GAP else "no"


class CommandParser:
    """Feed it the model's text as it streams; it returns text to show and the commands found.

    A command is a JSON object with an "op" key, written on its own (the prompt teaches
    `{"op": "create", "name": "milk"}` on a line of its own); a ```json fence or a JSON array around
    commands is tolerated. Only what may still become a command is held back; braces and brackets
    in ordinary text come out unchanged once they clearly are not one."""

    def __init__(self, max_command_chars: int = MAX_COMMAND_CHARS) -> None:
        self._limit = max_command_chars
        self._state = _TEXT
        self._held = ""
        self._closers: list[str] = []
        self._obj_at = 0
        self._depth = 0
        self._in_str = False
        self._esc = False
        self._keyed = False
        self._has_op = False
        self._last = ""

    def feed(self, chunk: str) -> list[Parsed]:
        """Take the next piece of the stream; return what can be shown or executed now."""
        out = _Out()
        self._run(chunk, out, final=False)
        return out.done()

    def finish(self) -> list[Parsed]:
        """The stream ended: settle whatever is still held back."""
        out = _Out()
        self._run("", out, final=True)
        return out.done()

    def _run(self, data: str, out: _Out, final: bool) -> None:
        i = 0
        while True:
            if i >= len(data):
                if not final or (self._state == _TEXT and not self._held):
                    return
                data, i = self._give_up(out), 0
                continue
            if self._state == _TEXT:
                i = self._scan_text(data, i, out)
                continue
            ch = data[i]
            i += 1
            self._held += ch
            if self._state == _OBJECT:
                data, i = self._object_char(ch, data, i, out)
            elif self._state == _FENCE_OPEN:
                status = _fence_status(self._held)
                if status == "open":
                    self._closers.append(_FENCE)
                    self._enter(ch)
                elif status == "no":
                    data, i = self._reject(data, i, out)
            elif self._state == _ARRAY_OPEN:
                if ch == "{":
                    self._begin_object()
                elif not ch.isspace() or len(self._held) > _MAX_GAP:
                    data, i = self._reject(data, i, out)
            elif self._state == _BETWEEN:
                data, i = self._between_char(data, i, out)
            else:
                self._skip_char(ch)

    def _scan_text(self, data: str, i: int, out: _Out) -> int:
        found = _START.search(data, i)
        if found is None:
            out.text(data[i:])
            return len(data)
        out.text(data[i : found.start()])
        ch = data[found.start()]
        self._held = ch
        self._closers = []
        if ch == "`":
            self._state = _FENCE_OPEN
        elif ch == "[":
            self._closers.append("]")
            self._state = _ARRAY_OPEN
        else:
            self._begin_object()
        return found.start() + 1

    def _enter(self, ch: str) -> None:
        """A container opened with `ch`: a command object or an array of them follows."""
        if ch == "[":
            self._closers.append("]")
            self._state = _ARRAY_OPEN
        else:
            self._begin_object()

    def _begin_object(self) -> None:
        self._state = _OBJECT
        self._obj_at = len(self._held) - 1
        self._depth = 1
        self._in_str = self._esc = self._keyed = self._has_op = False
        self._last = "{"  # the last character outside strings: where an object may start next

    def _object_char(self, ch: str, data: str, i: int, out: _Out) -> tuple[str, int]:
        if not self._keyed:
            if ch.isspace():
                return data, i
            if ch != '"':
                return self._reject(data, i, out)
            self._keyed = True
        if self._in_str:
            if ch in "\r\n":
                # JSON strings hold no raw line break: the line ended with a quote missing. The command is
                # broken there, and what follows (the next command line, say) stands on its own.
                return self._broken(data, i, out, "the line ends inside a string (a closing quote is missing)")
            if self._esc:
                self._esc = False
            elif ch == "\\":
                self._esc = True
            elif ch == '"':
                self._in_str = False
                self._last = ch
            return data, i
        if ch == '"':
            self._in_str = True
        elif ch == "{":
            if self._last not in ":,[":
                # Not where JSON allows an object: the command before it is missing its end (a brace, a
                # quote), and this brace starts the next one.
                return self._broken(data, i, out, "the command ends before its closing brace")
            self._depth += 1
        elif ch == "}":
            self._depth -= 1
            if self._depth == 0:
                return self._close(data, i, out)
        elif ch not in _JSON_CHARS and not self._op_seen():
            return self._reject(data, i, out)
        if not ch.isspace():
            self._last = ch
        if len(self._held) - self._obj_at > self._limit:
            return self._too_long(data, i, out)
        return data, i

    def _op_seen(self) -> bool:
        """Whether the object held so far has an "op" key, i.e. is meant as a command."""
        self._has_op = self._has_op or bool(_OP_KEY.search(self._held, self._obj_at))
        return self._has_op

    def _close(self, data: str, i: int, out: _Out) -> tuple[str, int]:
        found = judge(self._held[self._obj_at :])
        if found is None:
            return self._reject(data, i, out)
        out.add(found)
        self._after_command()
        return data, i

    def _broken(self, data: str, i: int, out: _Out, reason: str) -> tuple[str, int]:
        """The command held so far cannot be finished by the character just read: a failed command (or
        text, if it never had an "op"), and that character is read again on its own."""
        if not self._op_seen():
            return self._reject(data, i, out)
        out.add(InvalidCommand(self._held[self._obj_at : -1], f"the command is not valid JSON: {reason}"))
        self._after_command()
        return data[i - 1 :], 0

    def _after_command(self) -> None:
        self._held = ""
        self._state = _BETWEEN if self._closers else _TEXT

    def _between_char(self, data: str, i: int, out: _Out) -> tuple[str, int]:
        """After a command inside a fence or array: separators, another command, or the closer."""
        held = self._held
        closer = self._closers[-1]
        body = held.lstrip(" \t\r\n,")
        if not body and len(held) <= _MAX_GAP:
            return data, i
        if body == "{":
            self._held = "{"
            self._begin_object()
            return data, i
        if body and closer.startswith(body):
            if body == closer:
                self._closers.pop()
                self._held = ""
                self._state = _BETWEEN if self._closers else _TEXT
            return data, i
        # Not a continuation of the block: show it as text.
        self._closers = []
        self._state = _TEXT
        self._held = ""
        return held + data[i:], 0

    def _too_long(self, data: str, i: int, out: _Out) -> tuple[str, int]:
        if not self._op_seen():
            return self._reject(data, i, out)
        raw = self._held[self._obj_at : self._obj_at + 200] + "…"
        out.add(InvalidCommand(raw, f"the command is longer than {self._limit} characters"))
        self._held = ""
        self._state = _SKIP
        return data, i

    def _skip_char(self, ch: str) -> None:
        """Drop the rest of an over-long command, following strings so that braces in them do not count."""
        self._held = ""
        if self._in_str:
            if self._esc:
                self._esc = False
            elif ch == "\\":
                self._esc = True
            elif ch == '"':
                self._in_str = False
        elif ch == '"':
            self._in_str = True
        elif ch == "{":
            self._depth += 1
        elif ch == "}":
            self._depth -= 1
            if self._depth == 0:
                self._after_command()

    def _reject(self, data: str, i: int, out: _Out) -> tuple[str, int]:
        """What was held is not a command after all: show its first character, look again at the rest."""
        held = self._held
        out.text(held[0])
        self._state = _TEXT
        self._held = ""
        self._closers = []
        return held[1:] + data[i:], 0

    def _give_up(self, out: _Out) -> str:
        """The stream ended while something was held back."""
        if self._state == _OBJECT and self._op_seen():
            out.add(InvalidCommand(self._held[self._obj_at :], "the command was cut off before its closing brace"))
        elif self._state in (_FENCE_OPEN, _ARRAY_OPEN, _OBJECT):
            rest, _ = self._reject("", 0, out)
            return rest
        # The end of a block (spaces, a closing fence) or of an over-long command: nothing worth showing.
        self._state = _TEXT
        self._held = ""
        self._closers = []
        return ""
