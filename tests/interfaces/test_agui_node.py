"""The official AG-UI client from npm (`@ag-ui/client`'s HttpAgent), in Node, completes a run on /agui."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.support.stack import ROOT, Stack

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "js" / "agui_client.mjs"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is required (make test-deps installs it)")
async def test_the_npm_ag_ui_client_completes_a_run_and_sees_its_events(scripted: Stack) -> None:
    node = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        scripted.url + "/agui",
        "add bread",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    types = [line["event"]["type"] for line in lines if "event" in line]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED", types
    assert "TEXT_MESSAGE_CONTENT" in types and "TOOL_CALL_RESULT" in types
    final = lines[-1]
    assistant = [m for m in final["messages"] if m["role"] == "assistant"]
    assert assistant and assistant[-1]["content"], final
