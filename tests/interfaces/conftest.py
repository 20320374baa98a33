"""The whole stack as processes with the scripted backend, for the open interfaces (/agui and /mcp)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ag_ui_validate.pytest_plugin import validate_agui_endpoint
from ag_ui_validate.report.pretty import format_diagnostic_line, format_report_summary
from ag_ui_validate.types import Report

from tests.support.stack import Stack

# A short answer with one create command, at a pace a test can act in the middle of.
SCRIPTED = {"LLM_BACKEND": "scripted", "LLM_SCRIPT_TOKENS": "5", "LLM_SCRIPT_RATE": "0", "LLM_SCRIPT_COMMANDS": "1"}


def stack_with(base: Path, worker_env: dict[str, str], workers: int = 1) -> Iterator[Stack]:
    stack = Stack(base)
    try:
        stack.start(workers=workers, worker_env=worker_env)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from stack_with(tmp_path_factory.mktemp("interfaces"), SCRIPTED)


@pytest.fixture
async def http(scripted: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=scripted.url, timeout=30) as client:
        yield client


def run_input(text: str, run_id: str, thread_id: str = "thread-1", **extra: Any) -> dict[str, Any]:
    """A RunAgentInput as an AG-UI client sends it."""
    return {
        "threadId": thread_id,
        "runId": run_id,
        "messages": [{"id": f"m-{run_id}", "role": "user", "content": text}],
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
    } | extra


class Validated:
    """One run of /agui through ag-ui-validate: its report and the events it saw, in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.report: Report | None = None

    def seen(self, raw: str, diagnostics: list[Any]) -> None:
        self.events.append(json.loads(raw))

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def text(self) -> str:
        """The report as the validator's CLI prints it (for the record of what was checked)."""
        assert self.report is not None
        lines = [format_diagnostic_line(d, color=False) for d in self.report.diagnostics]
        return "\n".join([*lines, format_report_summary(self.report, color=False)])


async def validated(url: str, given: dict[str, Any], during: Any = None) -> Validated:
    """POST `given` to /agui with the validator reading the stream; `during(validated)` runs alongside."""
    out = Validated()
    side = asyncio.create_task(during(out)) if during is not None else None
    try:
        out.report = await validate_agui_endpoint(url + "/agui", input=given, on_event=out.seen, timeout_ms=60_000)
    finally:
        if side is not None:
            await side
    return out


async def until(check: Any, what: str, timeout: float = 20.0) -> None:
    """Wait until `check()` holds (polled every 50 ms), or fail saying what did not happen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
