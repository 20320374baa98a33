"""The gateway: the page, the task forms (through crud's commands), the SSE stream and the chat WebSocket."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from proto import subjects
from proto.bus import close as close_bus
from proto.bus import connect
from proto.codec import DecodeError, decode, encode
from proto.commands import Identifier, command_adapter
from proto.messages import (
    PERSON,
    CommandRequest,
    CommandResult,
    Confirmation,
    ConfirmationEvent,
    ConfirmationList,
    Decision,
    DecisionReply,
    ListRequest,
    PendingRequest,
    TaskEvent,
    TaskList,
    TaskPublic,
)
from proto.streams import ensure_streams
from services.gateway.auth import TokenGate, login
from services.gateway.config import Settings
from services.gateway.hub import Hub
from services.gateway.metrics import Metrics

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
NODE_MODULES = ROOT / "node_modules"
CRUD_TIMEOUT_S = 5.0
DECIDE_TIMEOUT_S = 5.0
_identifier: TypeAdapter[str] = TypeAdapter(Identifier)

ASSETS = {
    "htmx.min.js": NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js",
    "Sortable.min.js": NODE_MODULES / "sortablejs" / "Sortable.min.js",
}


class CrudError(Exception):
    """crud could not be reached; the message is for the person."""


class Gateway:
    """What every handler shares: settings, the NATS connection and the templates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
        )
        self.templates = Jinja2Templates(env=env)
        self._nc: Client | None = None
        self.hub: Hub | None = None

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "the gateway is not connected to NATS"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    async def start(self) -> None:
        self._nc = await connect(self.settings.nats_url, name="gateway")
        await ensure_streams(self.js)
        self.hub = hub = Hub(self.js, self.render_event, self.settings.sse_queue, self.metrics)
        self.metrics.gauges["sse_clients"] = lambda: len(hub.followers)
        await hub.start()

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self._nc is not None:
            await close_bus(self._nc)
            self._nc = None

    async def crud(self, subject: str, payload: bytes) -> bytes:
        try:
            reply = await self.nc.request(subject, payload, timeout=CRUD_TIMEOUT_S)
        except NoRespondersError:
            raise CrudError("The task service is not running; try again in a moment.") from None
        except NatsTimeout:
            raise CrudError("The task service did not answer in time; try again.") from None
        data: bytes = reply.data
        return data

    async def tasks(self) -> list[TaskPublic]:
        return decode(TaskList, await self.crud(subjects.TASK_LIST, encode(ListRequest()))).tasks

    async def pending_confirmations(self) -> list[Confirmation]:
        data = await self.crud(subjects.CONFIRMATION_PENDING, encode(PendingRequest()))
        return decode(ConfirmationList, data).confirmations

    def render_event(self, event: TaskEvent | ConfirmationEvent) -> str:
        """A changed task as the list item the page shows, or a confirmation as its card with Approve /
        Reject; rendered (and escaped) here, on one line."""
        if isinstance(event, ConfirmationEvent):
            return self.render_confirmation(event.confirmation)
        return self.render_item(event.task, event)

    def render_confirmation(self, confirmation: Confirmation) -> str:
        html: str = self.templates.get_template("partials/confirmation.html").render(c=confirmation)
        return html.replace("\n", "")

    def render_item(self, task: TaskPublic, event: TaskEvent | None = None) -> str:
        template = self.templates.get_template("partials/task.html")
        kind, actor = (event.kind, event.actor) if event else (None, None)
        html: str = template.render(task=task, kind=kind, actor=actor)
        return html.replace("\n", "")

    def count(self, name: str, by: int = 1) -> None:
        self.metrics.count(name, by)

    async def run(self, command: dict[str, Any]) -> CommandResult:
        """Validate a person's command here (a clear 422 before anything travels) and send it to crud."""
        parsed = command_adapter.validate_python(command)
        self.count("commands_total")
        request = CommandRequest(command_id=uuid.uuid4().hex, actor=PERSON, command=parsed)
        started = time.monotonic()
        data = await self.crud(subjects.crud_command(subjects.TASK_ENTITY, parsed.op), encode(request))
        self.metrics.observe("command_seconds", time.monotonic() - started)
        try:
            return decode(CommandResult, data)
        except DecodeError as error:
            raise CrudError(f"The task service answered with something unexpected: {error}") from None

    async def ui_last_seq(self) -> int:
        try:
            info = await self.js.stream_info(subjects.UI_STREAM)
        except NotFoundError:
            return 0
        return int(info.state.last_seq)


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _problems(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][-1]) if item["loc"] else ""
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field and field not in ("create", "toggle", "delete") else message)
    return "; ".join(parts[:3])


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
        tasks = await gateway.tasks()
        confirmations = await gateway.pending_confirmations()
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
        return PlainTextResponse(_problems(error), status_code=422)
    except CrudError as error:
        return PlainTextResponse(str(error), status_code=503)
    if not result.ok:
        status = 404 if result.error and result.error.code == "not_found" else 409
        return PlainTextResponse(result.error.message if result.error else "Refused.", status_code=status)
    return PlainTextResponse(result.summary)


async def add_task(request: Request) -> Response:
    form = await request.form()
    return await _command(request, {"op": "create", "name": str(form.get("name", ""))})


async def _targeted(request: Request, op: str, **fields: Any) -> Response:
    """A command on the task the person sees, refused if it changed since (the form's `version`: the
    version the page showed), so a click on a stale item never undoes someone else's change."""
    form = await request.form()
    command = {"op": op, "id": request.path_params["task_id"], **fields}
    version = form.get("version")
    if version:
        command["expected_version"] = version
    return await _command(request, command)


async def toggle_task(request: Request) -> Response:
    return await _targeted(request, "toggle")


async def delete_task(request: Request) -> Response:
    return await _targeted(request, "delete")


def _json_only(request: Request) -> bool:
    """JSON bodies only: a cross-site HTML form cannot send application/json."""
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


async def _json_command(gateway: Gateway, command: dict[str, Any], created: bool = False) -> Response:
    try:
        result = await gateway.run(command)
    except ValidationError as error:
        return JSONResponse({"error": _problems(error)}, status_code=422)
    except CrudError as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    if not result.ok:
        code = result.error.code if result.error else "internal"
        status = {"not_found": 404, "invalid": 422, "ambiguous": 409, "conflict": 409}.get(code, 500)
        return JSONResponse({"error": result.error.message if result.error else "refused"}, status_code=status)
    body = result.task.model_dump() if result.task else {}
    return JSONResponse(body | {"summary": result.summary}, status_code=201 if created else 200)


async def _json_body(request: Request) -> dict[str, Any] | Response:
    if not _json_only(request):
        return JSONResponse({"error": "send a JSON body (Content-Type: application/json)"}, status_code=415)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not valid JSON"}, status_code=422)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=422)
    return body


async def rename_task(request: Request) -> Response:
    form = await request.form()
    return await _targeted(request, "rename", new_name=str(form.get("name", "")))


async def clear_completed(request: Request) -> Response:
    return await _command(request, {"op": "clear_completed"})


async def api_tasks(request: Request) -> Response:
    """GET: the list in order. POST `{"name": ...}`: add a task, as a person, through crud."""
    gateway = gateway_of(request)
    if request.method == "GET":
        try:
            tasks = await gateway.tasks()
        except CrudError as error:
            return JSONResponse({"error": str(error)}, status_code=503)
        return JSONResponse([t.model_dump() for t in tasks])
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    return await _json_command(gateway, {"op": "create", "name": body.get("name")}, created=True)


async def api_task(request: Request) -> Response:
    """DELETE /api/tasks/{id}: delete a task, as a person, through crud."""
    return await _json_command(gateway_of(request), {"op": "delete", "id": request.path_params["task_id"]})


async def api_command(request: Request) -> Response:
    """POST `{"command": {...}}`: any command of the language, as a person."""
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    command = body.get("command")
    if not isinstance(command, dict):
        return JSONResponse({"error": 'the body must be {"command": {"op": ...}}'}, status_code=422)
    return await _json_command(gateway_of(request), command)


async def decide(request: Request) -> Response:
    """POST `{"approve": true|false}` to /api/runs/{run_id}/confirmations/{call_id}: the person's answer to
    a command waiting for approval, taken by the worker that waits for it (the first answer counts)."""
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    approve = body.get("approve")
    if not isinstance(approve, bool):
        return JSONResponse({"error": 'send {"approve": true} or {"approve": false}'}, status_code=422)
    try:
        run_id = _identifier.validate_python(request.path_params["run_id"])
        decision = Decision(call_id=request.path_params["call_id"], approve=approve)
    except ValidationError as error:
        return JSONResponse({"error": _problems(error)}, status_code=422)
    gateway = gateway_of(request)
    try:
        reply = await gateway.nc.request(subjects.chat_decide(run_id), encode(decision), timeout=DECIDE_TIMEOUT_S)
    except NoRespondersError:
        message = "The assistant is no longer waiting for this answer (its run has ended)."
        return JSONResponse({"error": message, "state": "gone"}, status_code=409)
    except NatsTimeout:
        return JSONResponse({"error": "The assistant did not take the answer in time; try again."}, status_code=504)
    try:
        answer = decode(DecisionReply, reply.data)
    except DecodeError as error:
        return JSONResponse({"error": f"The assistant answered with something unexpected: {error}"}, status_code=502)
    gateway.count("confirmations_answered_total")
    if not answer.accepted:
        return JSONResponse({"error": answer.message, "state": answer.state}, status_code=409)
    return JSONResponse({"state": answer.state})


async def asset(request: Request) -> Response:
    path = ASSETS.get(request.path_params["name"])
    if path is None or not path.exists():
        return PlainTextResponse("Unknown asset; run `make assets` (npm ci).", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


async def healthz(request: Request) -> Response:
    """200 only when NATS is connected and crud answers."""
    gateway = gateway_of(request)
    if gateway._nc is None or not gateway.nc.is_connected:
        return PlainTextResponse("NATS is not connected", status_code=503)
    try:
        await gateway.nc.request(subjects.service_ping(subjects.CRUD_SERVICE), b"", timeout=1.0)
    except Exception:  # noqa: BLE001 - any failure means crud is not there
        return PlainTextResponse("the task service does not answer", status_code=503)
    return PlainTextResponse("ok")


def create_app(settings: Settings | None = None) -> Starlette:
    from services.gateway.chat import chat_socket, conversation
    from services.gateway.events import events
    from services.gateway.metrics import metrics
    from services.gateway.workers import models

    gateway = Gateway(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.stop()

    routes = [
        Route("/", index),
        Route("/tasks", add_task, methods=["POST"]),
        Route("/tasks/{task_id:int}/toggle", toggle_task, methods=["POST"]),
        Route("/tasks/{task_id:int}/delete", delete_task, methods=["POST"]),
        Route("/tasks/{task_id:int}/rename", rename_task, methods=["POST"]),
        Route("/tasks/clear-completed", clear_completed, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/api/tasks", api_tasks, methods=["GET", "POST"]),
        Route("/api/tasks/{task_id:int}", api_task, methods=["DELETE"]),
        Route("/api/commands", api_command, methods=["POST"]),
        Route("/api/runs/{run_id}/confirmations/{call_id}", decide, methods=["POST"]),
        Route("/api/conversations/{thread_id}", conversation),
        Route("/api/models", models),
        Route("/events", events),
        WebSocketRoute("/ws", chat_socket),
        Route("/healthz", healthz),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/assets/{name}", asset),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    token = gateway.settings.access_token.get_secret_value() if gateway.settings.access_token else None
    middleware = [Middleware(TokenGate, token=token)] if token else []
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.gateway = gateway
    app.state.access_token = token
    return app
