"""What the two chat-API backends (Ollama, OpenAI-compatible) share: the messages, the tools, reading the answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import ValidationError

from proto.commands import COMMANDS, command_adapter
from services.llm_worker import constrained
from services.llm_worker.backends.base import Chunk, CommandOut, InvalidCommand, Prompt, Round, TextDelta
from services.llm_worker.commands import CommandParser
from services.llm_worker.prompt import chat_messages, inline_corrections, recent_actions, task_lines

Strategy = Literal["tools", "inline", "constrained"]

ToolRound = Callable[[Round], list[dict[str, Any]]]
"""A round of tool calls and their results as the API's own messages (each API spells them its way)."""

TOOLS_SYSTEM = """\
You are ghostbus, the assistant inside a shared task list app. People chat with you to change the \
list or to ask about it. Change the list only with the tools, one call per change; then confirm in a \
few plain words. For a question or small talk, just answer briefly.

The task list right now:
{tasks}"""


def strategy_messages(strategy: Strategy, prompt: Prompt, tool_round: ToolRound) -> list[dict[str, Any]]:
    """The chat messages for one answer under `strategy`; only the tools strategy sends earlier rounds
    back as tool calls (inline sends its refused commands as a correction, constrained nothing)."""
    if strategy == "constrained":
        return constrained.messages(prompt)
    if strategy == "inline":
        return [*chat_messages(prompt), *inline_corrections(prompt)]
    system = TOOLS_SYSTEM.format(tasks=task_lines(prompt.tasks)) + recent_actions(prompt)
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    out += [{"role": t.role, "content": t.text} for t in prompt.history]
    out.append({"role": "user", "content": prompt.text})
    for round_ in prompt.rounds:
        out += tool_round(round_)
    return out


def tool_definitions() -> list[dict[str, Any]]:
    """One function per command of the language, generated from the proto models (the one source)."""
    tools = []
    for cls in COMMANDS:
        schema = cls.model_json_schema()
        properties = {k: v for k, v in schema.get("properties", {}).items() if k != "op"}
        parameters: dict[str, Any] = {"type": "object", "properties": properties}
        required = [r for r in schema.get("required", []) if r != "op"]
        if required:
            parameters["required"] = required
        if "$defs" in schema:
            parameters["$defs"] = schema["$defs"]
        op = cls.model_fields["op"].default
        description = (cls.__doc__ or op).strip()
        function = {"name": op, "description": description, "parameters": parameters}
        tools.append({"type": "function", "function": function})
    return tools


def tool_call_command(call_id: str, name: str, arguments: str) -> CommandOut | InvalidCommand:
    """A native tool call as a validated command, or the reason it is not one (for the model to fix)."""
    try:
        args = json.loads(arguments or "{}")
        if not isinstance(args, dict):
            raise ValueError("the arguments must be a JSON object")
    except ValueError as error:
        return InvalidCommand(arguments, f"the arguments are not valid JSON: {error}", call_id, name)
    try:
        return CommandOut(command_adapter.validate_python({**args, "op": name}), call_id)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or name}: {e['msg']}" for e in error.errors(include_url=False)
        )
        return InvalidCommand(arguments, f"{name} was called wrongly: {problems}", call_id, name)


class AnswerText:
    """The text of a streamed answer, read as the strategy says: shown as it comes (tools), with the
    inline commands taken out (inline), or held whole until it ends, being the commands JSON (constrained)."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self._parser = CommandParser()
        self._held: list[str] = []

    def feed(self, text: str) -> list[Chunk]:
        if self.strategy == "constrained":
            self._held.append(text)
            return []
        if self.strategy == "inline":
            return list(self._parser.feed(text))
        return [TextDelta(text)]

    def finish(self) -> list[Chunk]:
        """What is left once the stream ended: held-back text or commands."""
        if self.strategy == "constrained":
            return list(constrained.parse("".join(self._held)))
        return list(self._parser.finish())
