"""`/mcp` on demand: a gateway that no agent has called carries none of the MCP SDK."""

from __future__ import annotations

import subprocess
import sys

from tests.support.stack import ROOT


def test_the_gateway_starts_without_the_mcp_sdk() -> None:
    probe = "import sys, services.gateway.__main__; print('mcp' in sys.modules, 'mcp_types' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["False", "False"]
