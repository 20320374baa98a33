"""The system prompt and chat messages for chat models that write inline commands."""

from __future__ import annotations

import json
from typing import Any

from proto.commands import command_reference
from proto.messages import TaskPublic
from services.llm_worker.backends.base import Prompt

INTRO = """\
You are ghostbus, the assistant inside a shared task list app. People chat with you to change the \
list or to ask about it. Answer briefly and in the person's language."""

RULES = """\
How to change the list: write a command, a JSON object on a line of its own, exactly like
{"op": "create", "name": "milk"}
No code fence around it, no other JSON anywhere in your answer.
The commands:
{reference}
A task already on the list can also be given by its id, e.g. {"op": "toggle", "id": 3}.
Rules:
- Write the command JSON first, then a short confirmation in plain words (e.g. "Added milk.").
- One command per change: for "add eggs and jam" write two command lines.
- Only act when asked; for a question or small talk, just answer in words.
- Only use the commands above; if a request cannot be done with them, say so."""


def task_lines(tasks: list[TaskPublic]) -> str:
    """The task list as the model reads it, one task per line in list order."""
    if not tasks:
        return "(the list is empty)"
    ordered = sorted(tasks, key=lambda t: t.position)
    return "\n".join(f"{n}. id {t.id}: {t.name}{' (done)' if t.done else ''}" for n, t in enumerate(ordered, 1))


def recent_actions(prompt: Prompt) -> str:
    """What people changed by hand since the model last answered, for the end of a system prompt, so that
    "undo that" or "rename the one I just added" can be understood; empty when nothing was."""
    if not prompt.recent:
        return ""
    lines = "\n".join(f"Person, {line}" for line in prompt.recent)
    return f"\n\nChanges the person made by hand since your last answer (oldest first):\n{lines}"


def system_prompt(prompt: Prompt) -> str:
    """Who the model is, the command language (from proto, the single source), the current list and what the
    person did by hand since the model last answered."""
    rules = RULES.replace("{reference}", command_reference())
    return f"{INTRO}\n\n{rules}\n\nThe task list right now:\n{task_lines(prompt.tasks)}{recent_actions(prompt)}"


def chat_messages(prompt: Prompt) -> list[dict[str, str]]:
    """The messages for a chat API: the system prompt, the earlier turns, then the person's message."""
    messages = [{"role": "system", "content": system_prompt(prompt)}]
    messages += [{"role": turn.role, "content": turn.text} for turn in prompt.history]
    messages.append({"role": "user", "content": prompt.text})
    return messages


def inline_corrections(prompt: Prompt) -> list[dict[str, Any]]:
    """For a model writing inline commands: what it said, then which of its commands were refused and
    why, so it can write them again correctly (once)."""
    messages: list[dict[str, Any]] = []
    for round_ in prompt.rounds:
        messages.append({"role": "assistant", "content": round_.text or "(commands only)"})
        problems = []
        for call in round_.calls:
            error = (json.loads(call.result).get("error") or {}).get("message", "it failed")
            problems.append(f"- {call.arguments}: {error}")
        messages.append(
            {
                "role": "user",
                "content": "These commands were not carried out:\n" + "\n".join(problems) + "\n"
                "Write each again correctly, as a JSON command line, or say briefly that you cannot.",
            }
        )
    return messages
