"""The page and its forms: the task list as HTML, and a person's edits sent to crud as commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from proto.crud_client import CrudError
from services.gateway import idempotency
from services.gateway.state import HERE, gateway_of, problems

NODE_MODULES = HERE.parent.parent / "node_modules"
ASSETS = {
    "htmx.min.js": NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js",
    "Sortable.min.js": NODE_MODULES / "sortablejs" / "Sortable.min.js",
}


def _same_site(request: Request) -> bool:
    """A state-changing request must carry a header that a cross-site HTML form cannot send."""
    return request.headers.get("hx-request") == "true" or request.headers.get("x-ghostbus") == "1"


class NotAForm(Exception):
    """The body is not the page's form (a file upload, JSON...): only urlencoded fields are read."""


async def _form(request: Request) -> FormData:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return await request.form()
    if not kind and not await request.body():
        return FormData()  # a button's POST with nothing to say
    raise NotAForm


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
    signed_in = request.app.state.sessions is not None
    context = {
        "tasks": tasks,
        "confirmations": confirmations,
        "seq": seq,
        "error": error,
        "signed_in": signed_in,
        "boot": gateway.boot,
    }
    page: Response = gateway.templates.TemplateResponse(request, "pages/index.html", context)
    return page


async def _form_command(request: Request, build: Callable[[FormData], dict[str, Any]]) -> Response:
    """A person's edit from the page: its form (urlencoded fields only) made into a command for crud."""
    if not _same_site(request):
        return PlainTextResponse("This request must come from the ghostbus page.", status_code=403)
    try:
        form = await _form(request)
    except NotAForm:
        return PlainTextResponse("Send the page's form fields (application/x-www-form-urlencoded).", status_code=415)
    return await _command(request, build(form))


async def _command(request: Request, command: dict[str, Any]) -> Response:
    try:
        result = await gateway_of(request).run(command, idempotency.command_id(request))
    except idempotency.BadKey as error:
        return PlainTextResponse(str(error), status_code=400)
    except ValidationError as error:
        return PlainTextResponse(problems(error), status_code=422)
    except CrudError as error:
        if error.code == idempotency.KEY_REUSED:
            return PlainTextResponse(idempotency.REUSED_MESSAGE, status_code=422)
        return PlainTextResponse(str(error), status_code=503)
    if not result.ok:
        status = 404 if result.error and result.error.code == "not_found" else 409
        return PlainTextResponse(result.error.message if result.error else "Refused.", status_code=status)
    return PlainTextResponse(result.summary)


def _targeted(request: Request, op: str, form: FormData, **fields: Any) -> dict[str, Any]:
    """A command on the task the person sees, refused if it changed since (the form's `version`: the
    version the page showed), so a click on a stale item never undoes someone else's change."""
    command = {"op": op, "id": request.path_params["task_id"], **fields}
    version = form.get("version")
    if version:
        command["expected_version"] = version
    return command


async def add_task(request: Request) -> Response:
    return await _form_command(request, lambda form: {"op": "create", "name": form.get("name", "")})


async def toggle_task(request: Request) -> Response:
    return await _form_command(request, lambda form: _targeted(request, "toggle", form))


async def delete_task(request: Request) -> Response:
    return await _form_command(request, lambda form: _targeted(request, "delete", form))


async def rename_task(request: Request) -> Response:
    return await _form_command(request, lambda form: _targeted(request, "rename", form, new_name=form.get("name", "")))


async def clear_completed(request: Request) -> Response:
    return await _form_command(request, lambda form: {"op": "clear_completed"})


async def boot(request: Request) -> Response:
    """`GET /dev/boot` (make dev only): which start of the gateway this is; a page that was served by
    another one reloads itself."""
    gateway = gateway_of(request)
    if not gateway.boot:
        return PlainTextResponse("Not found", status_code=404)
    return PlainTextResponse(gateway.boot, headers={"Cache-Control": "no-store"})


async def asset(request: Request) -> Response:
    """A front-end library from node_modules (installed from npm's lock file, never copied here)."""
    path = ASSETS.get(request.path_params["name"])
    if path is None or not path.exists():
        return PlainTextResponse("Unknown asset; run `make assets` (npm ci).", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
