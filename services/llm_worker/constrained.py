"""The constrained strategy for chat models behind Ollama or an OpenAI-compatible endpoint: the
model's whole answer must match a JSON schema of commands (Ollama's `format=`, OpenAI's
`response_format`), and the worker writes the reply from the results."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from proto.commands import command_adapter, command_reference
from services.llm_worker.backends.base import CommandOut, InvalidCommand, Prompt
from services.llm_worker.prompt import recent_actions, task_lines

MAX_COMMANDS = 8


def commands_schema() -> dict[str, Any]:
    """`{"commands": [command, ...]}`, with each command as the proto models define it."""
    item = command_adapter.json_schema()
    definitions = item.pop("$defs", {})
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"commands": {"type": "array", "maxItems": MAX_COMMANDS, "items": item}},
        "required": ["commands"],
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


SYSTEM = """\
You turn a person's request about a shared task list into commands. Answer only with JSON:
{{"commands": [ ... ]}}, an empty list when the request is not about the list.
The commands:
{reference}
Refer to a task on the list by its id.

The task list right now:
{tasks}"""


def messages(prompt: Prompt) -> list[dict[str, Any]]:
    system = SYSTEM.format(reference=command_reference(), tasks=task_lines(prompt.tasks)) + recent_actions(prompt)
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    out += [{"role": t.role, "content": t.text} for t in prompt.history if t.role == "user"]
    out.append({"role": "user", "content": prompt.text})
    return out


def parse(answer: str) -> list[CommandOut | InvalidCommand]:
    """The commands of a constrained answer; whatever does not validate is named, not dropped."""
    try:
        listed = json.loads(answer)["commands"]
        if not isinstance(listed, list):
            raise TypeError("commands is not a list")
    except (ValueError, KeyError, TypeError) as error:
        return [InvalidCommand(answer[:1500], f"the answer is not the commands JSON: {error}")]
    out: list[CommandOut | InvalidCommand] = []
    for raw in listed[:MAX_COMMANDS]:
        try:
            out.append(CommandOut(command_adapter.validate_python(raw)))
        except ValidationError as error:
            problems = "; ".join(e["msg"] for e in error.errors(include_url=False)[:3])
            op = raw.get("op") if isinstance(raw, dict) and isinstance(raw.get("op"), str) else None
            out.append(InvalidCommand(json.dumps(raw)[:1500], problems, op=op))
    return out
