"""Export the contract as JSON Schema, so a service in another language can join the bus."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import TypeAdapter

from proto import subjects
from proto.commands import Command
from proto.events import RunEvent
from proto.messages import CommandRequest, CommandResult, RunRequest, TaskList, UiEvent


def contract() -> dict[str, Any]:
    """Every message on the bus as JSON Schema, with the subject it travels on."""
    schemas: dict[str, Any] = {
        "command": TypeAdapter(Command).json_schema(),
        "run_request": RunRequest.model_json_schema(),
        "run_event": TypeAdapter(RunEvent).json_schema(by_alias=True),
        "command_request": CommandRequest.model_json_schema(),
        "command_result": CommandResult.model_json_schema(),
        "task_list": TaskList.model_json_schema(),
        "ui_event": TypeAdapter(UiEvent).json_schema(),
    }
    return {
        "subjects": {
            "run_request": subjects.CHAT_SUBMIT,
            "run_event": subjects.run_event("{run_id}", "{attempt}", "{index}"),
            "cancel": subjects.chat_cancel("{run_id}"),
            "command_request": subjects.crud_command("{entity}", "{op}"),
            "task_list": subjects.TASK_LIST,
            "ui_event": subjects.UI_ALL,
        },
        "schemas": schemas,
    }


if __name__ == "__main__":
    json.dump(contract(), sys.stdout, indent=2)
    sys.stdout.write("\n")
