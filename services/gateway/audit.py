"""`/audit`: crud's record of every command, newest first — who asked, what, what came of it, when —
as a page and as JSON (`/api/audit`), optionally only one chat run's (`?run=`)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proto.crud_client import CrudError
from proto.messages import Actor, AuditEntry, AuditRequest
from services.gateway.state import gateway_of

DEFAULT_LIMIT = 200


def who(actor: Actor) -> str:
    """The actor in words: "person", an outside agent by its MCP client's name, or the model and the backend
    that ran it."""
    if actor.kind == "person":
        return "person"
    if actor.kind == "agent":
        return f"agent {actor.client}" if actor.client else "agent"
    name = actor.model or actor.kind
    return f"{name} ({actor.backend})" if actor.backend else name


def what(entry: AuditEntry) -> str:
    """The command in one line: its op, then its arguments."""
    args = [f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}" for key, value in entry.command.items()]
    return " ".join([entry.op, *(a for a in args if not a.startswith("op="))])


def row(entry: AuditEntry) -> dict[str, Any]:
    result = entry.result
    return {
        "command_id": entry.command_id,
        "run_id": entry.run_id,
        "who": who(entry.actor),
        "actor": entry.actor.model_dump(exclude_none=True),
        "what": what(entry),
        "ok": result.ok,
        "result": result.summary if result.ok else (result.error.message if result.error else "refused"),
        "undone_by": entry.undone_by,
        "at": entry.at,
        "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.at)),
    }


async def _entries(request: Request) -> list[dict[str, Any]] | Response:
    try:
        query = AuditRequest(run_id=request.query_params.get("run") or None, limit=DEFAULT_LIMIT)
    except ValidationError:
        return JSONResponse({"error": "`run` is not a run id"}, status_code=422)
    try:
        entries = await gateway_of(request).crud.audit(query.run_id, query.limit)
    except CrudError as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    return [row(entry) for entry in entries]


async def audit_api(request: Request) -> Response:
    """`GET /api/audit[?run=RUN_ID]`: the newest commands first, as JSON."""
    rows = await _entries(request)
    return rows if isinstance(rows, Response) else JSONResponse(rows)


async def audit_page(request: Request) -> Response:
    """`GET /audit[?run=RUN_ID]`: the same as a page."""
    rows = await _entries(request)
    if isinstance(rows, Response):
        return rows
    context = {"rows": rows, "run": request.query_params.get("run") or ""}
    page: Response = gateway_of(request).templates.TemplateResponse(request, "pages/audit.html", context)
    return page
