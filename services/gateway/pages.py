"""The page and its forms: the task list as HTML, and a person's edits sent to crud as commands."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from proto.crud_client import CrudError
from services.gateway.state import HERE, gateway_of, problems

NODE_MODULES = HERE.parent.parent / "node_modules"
ASSETS = {
    "htmx.min.js": NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js",
    "Sortable.min.js": NODE_MODULES / "sortablejs" / "Sortable.min.js",
}


def _same_site(request: Request) -> bool:
    """A state-changing request must carry a header that a cross-site HTML form cannot send."""
    return request.headers.get("hx-request") == "true" or request.headers.get("x-ghostbus") == "1"


async def index(request: Request) -> Response:
    gateway = gateway_of(request)
    # The cursor is read before the list: an event between the two is replayed, never missed
    # (replaying is harmless, the page applies events by version).
    seq = await gateway.ui_last_seq()
    error = None
    try:
        tasks = await gateway.crud.tasks()
        confirmations = await gateway.crud.pending_confirmations()
    except CrudError as failure:
        tasks, confirmations, error = [], [], str(failure)
    context = {"tasks": tasks, "confirmations": confirmations, "seq": seq, "error": error}
    page: Response = gateway.templates.TemplateResponse(request, "pages/index.html", context)
    return page


async def _command(request: Request, command: dict[str, Any]) -> Response:
    if not _same_site(request):
        return PlainTextResponse("This request must come from the ghostbus page.", status_code=403)
    try:
        result = await gateway_of(request).run(command)
    except ValidationError as error:
        return PlainTextResponse(problems(error), status_code=422)
    except CrudError as error:
        return PlainTextResponse(str(error), status_code=503)
    if not result.ok:
        status = 404 if result.error and result.error.code == "not_found" else 409
        return PlainTextResponse(result.error.message if result.error else "Refused.", status_code=status)
    return PlainTextResponse(result.summary)


async def _targeted(request: Request, op: str, **fields: Any) -> Response:
    """A command on the task the person sees, refused if it changed since (the form's `version`: the
    version the page showed), so a click on a stale item never undoes someone else's change."""
    form = await request.form()
    command = {"op": op, "id": request.path_params["task_id"], **fields}
    version = form.get("version")
    if version:
        command["expected_version"] = version
    return await _command(request, command)


async def add_task(request: Request) -> Response:
    form = await request.form()
    return await _command(request, {"op": "create", "name": str(form.get("name", ""))})


async def toggle_task(request: Request) -> Response:
    return await _targeted(request, "toggle")


async def delete_task(request: Request) -> Response:
    return await _targeted(request, "delete")


async def rename_task(request: Request) -> Response:
    form = await request.form()
    return await _targeted(request, "rename", new_name=str(form.get("name", "")))


async def clear_completed(request: Request) -> Response:
    return await _command(request, {"op": "clear_completed"})


async def asset(request: Request) -> Response:
    """A front-end library from node_modules (installed from npm's lock file, never copied here)."""
    path = ASSETS.get(request.path_params["name"])
    if path is None or not path.exists():
        return PlainTextResponse("Unknown asset; run `make assets` (npm ci).", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
