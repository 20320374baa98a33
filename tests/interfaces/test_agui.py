"""`POST /agui` against the whole stack: ag-ui-validate reads real runs (plain, with commands, stopped,
redelivered), and what the AG-UI client sees is what the page would show."""

from __future__ import annotations

import httpx
import pytest

from tests.interfaces.conftest import run_input, validated
from tests.support.stack import Stack

pytestmark = pytest.mark.slow


async def test_a_run_with_a_command_is_valid_ag_ui_and_changes_the_list(
    scripted: Stack, http: httpx.AsyncClient
) -> None:
    run = await validated(scripted.url, run_input("add something", "agui-commands"))
    print(run.text())
    assert run.report is not None and run.report.summary.errors == 0 and run.report.summary.warnings == 0, run.text()
    types = run.types()
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    assert run.events[0]["protocolVersion"] == "1.0" and run.events[0]["runId"] == "agui-commands"
    assert "TOOL_CALL_START" in types and "TOOL_CALL_RESULT" in types
    assert any(e["type"] == "CUSTOM" and e["name"] == "ghostbus.rendered" for e in run.events)
    created = [t["name"] for t in (await http.get("/api/tasks")).json()]
    assert any(name.startswith("cmd ") for name in created)
