"""The JSON API: tasks and commands as a person, approvals, conversations, models, health and metrics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from proto import subjects
from proto.codec import DecodeError, decode, encode
from proto.commands import Identifier
from proto.crud_client import CrudError
from proto.messages import PERSON, ConfirmationSettle, Decision, DecisionReply
from services.gateway import idempotency
from services.gateway.metrics import CONTENT_TYPE
from services.gateway.relay import MARKDOWN
from services.gateway.state import Gateway, gateway_of, problems
from services.gateway.workers import worker_models

DECIDE_TIMEOUT_S = 5.0
_identifier: TypeAdapter[str] = TypeAdapter(Identifier)
STATUS_OF = {"not_found": 404, "invalid": 422, "ambiguous": 409, "conflict": 409}


def _json_only(request: Request) -> bool:
    """JSON bodies only: a cross-site HTML form cannot send application/json."""
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


async def json_body(request: Request) -> dict[str, Any] | Response:
    if not _json_only(request):
        return JSONResponse({"error": "send a JSON body (Content-Type: application/json)"}, status_code=415)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not valid JSON"}, status_code=422)
    except RecursionError:
        return JSONResponse({"error": "the body is nested too deeply"}, status_code=422)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=422)
    return body


async def _json_command(request: Request, command: dict[str, Any], created: bool = False) -> Response:
    """A person's command through crud; with an Idempotency-Key, a retry gets the first answer."""
    try:
        result = await gateway_of(request).run(command, idempotency.command_id(request))
    except idempotency.BadKey as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    except ValidationError as error:
        return JSONResponse({"error": problems(error)}, status_code=422)
    except CrudError as error:
        if error.code == idempotency.KEY_REUSED:
            return JSONResponse({"error": idempotency.REUSED_MESSAGE}, status_code=422)
        return JSONResponse({"error": str(error)}, status_code=503)
    if not result.ok:
        code = result.error.code if result.error else "internal"
        status = STATUS_OF.get(code, 500)
        return JSONResponse({"error": result.error.message if result.error else "refused"}, status_code=status)
    body = result.task.model_dump() if result.task else {}
    return JSONResponse(body | {"summary": result.summary}, status_code=201 if created else 200)


async def tasks(request: Request) -> Response:
    """GET: the list in order. POST `{"name": ...}`: add a task, as a person, through crud."""
    gateway = gateway_of(request)
    if request.method == "GET":
        try:
            listed = await gateway.crud.tasks()
        except CrudError as error:
            return JSONResponse({"error": str(error)}, status_code=503)
        return JSONResponse([t.model_dump() for t in listed])
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    return await _json_command(request, {"op": "create", "name": body.get("name")}, created=True)


async def task(request: Request) -> Response:
    """DELETE /api/tasks/{id}: delete a task, as a person, through crud."""
    return await _json_command(request, {"op": "delete", "id": request.path_params["task_id"]})


async def command(request: Request) -> Response:
    """POST `{"command": {...}}`: any command of the language, as a person."""
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    given = body.get("command")
    if not isinstance(given, dict):
        return JSONResponse({"error": 'the body must be {"command": {"op": ...}}'}, status_code=422)
    return await _json_command(request, given)


async def decide(request: Request) -> Response:
    """POST `{"approve": true|false}` to /api/runs/{run_id}/confirmations/{call_id}: the person's answer to
    a command waiting for approval, taken by the worker that waits for it (the first answer counts)."""
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    approve = body.get("approve")
    if not isinstance(approve, bool):
        return JSONResponse({"error": 'send {"approve": true} or {"approve": false}'}, status_code=422)
    try:
        retry = idempotency.command_id(request) is not None
    except idempotency.BadKey as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    try:
        run_id = _identifier.validate_python(request.path_params["run_id"])
        decision = Decision(call_id=request.path_params["call_id"], approve=approve)
    except ValidationError as error:
        return JSONResponse({"error": problems(error)}, status_code=422)
    return await answer(gateway_of(request), run_id, decision, retry)


async def answer(gateway: Gateway, run_id: str, decision: Decision, retry: bool = False) -> Response:
    """A person's answer to a question of a run, to the worker waiting for it (or recorded through crud when
    none waits); `retry`: a client asking again under its key gets what its first answer got."""
    approve = decision.approve
    try:
        reply = await gateway.nc.request(subjects.chat_decide(run_id), encode(decision), timeout=DECIDE_TIMEOUT_S)
    except NoRespondersError:
        return await _record_decision(gateway, run_id, decision)
    except NatsTimeout:
        return JSONResponse({"error": "The assistant did not take the answer in time; try again."}, status_code=504)
    try:
        answer = decode(DecisionReply, reply.data)
    except DecodeError as error:
        return JSONResponse({"error": f"The assistant answered with something unexpected: {error}"}, status_code=502)
    gateway.count("confirmations_answered_total")
    if not answer.accepted:
        if retry and answer.state == ("approved" if approve else "rejected"):
            # A client's retry (its first answer was taken, the reply lost) gets what the first got.
            return JSONResponse({"state": answer.state})
        return JSONResponse({"error": answer.message, "state": answer.state}, status_code=409)
    return JSONResponse({"state": answer.state})


async def _record_decision(gateway: Gateway, run_id: str, decision: Decision) -> Response:
    """No worker waits for the answer (the run's worker died and the run waits for the next one): crud
    records it against the question, and the worker that takes the run next finds it answered."""
    state: Literal["approved", "rejected"] = "approved" if decision.approve else "rejected"
    answer = ConfirmationSettle(call_id=decision.call_id, state=state, actor=PERSON, run_id=run_id)
    try:
        stored = await gateway.crud.settle(answer)
    except CrudError as error:
        if error.code == "404":
            return JSONResponse({"error": "No such question was asked in this run.", "state": "gone"}, status_code=409)
        return JSONResponse({"error": str(error)}, status_code=503)
    if stored.state != state:
        return JSONResponse({"error": f"It was already {stored.state}.", "state": stored.state}, status_code=409)
    gateway.count("confirmations_answered_total")
    return JSONResponse({"state": stored.state})


async def conversation(request: Request) -> Response:
    """The last messages of a conversation, oldest first, so a reloaded page shows its chat again; an
    answer comes with its Markdown rendered here (`html`), as it was shown when it finished."""
    gateway = gateway_of(request)
    try:
        messages = await gateway.crud.conversation(request.path_params["thread_id"], limit=50)
    except ValidationError:
        return JSONResponse({"error": "not a conversation id"}, status_code=422)
    except CrudError as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    out = []
    for message in messages:
        shown = message.model_dump(exclude_none=True)
        if message.role == "assistant":
            shown["html"] = MARKDOWN.render(message.text)
        out.append(shown)
    return JSONResponse(out)


async def models(request: Request) -> Response:
    """`GET /api/models`: the models the running workers can answer with (empty when none runs)."""
    gateway = gateway_of(request)
    if not gateway.nc.is_connected:
        return JSONResponse({"error": "The message bus is not connected."}, status_code=503)
    return JSONResponse([asdict(m) for m in await worker_models(gateway.nc)])


async def metrics(request: Request) -> Response:
    """`GET /metrics`: Prometheus text."""
    return Response(gateway_of(request).metrics.render(), media_type=CONTENT_TYPE)


async def healthz(request: Request) -> Response:
    """200 only when NATS is connected and crud answers."""
    gateway = gateway_of(request)
    if not gateway.connected:
        return PlainTextResponse("NATS is not connected", status_code=503)
    try:
        await gateway.crud.ping()
    except (CrudError, NatsError):  # NATS going away during the PING: crud cannot be reached either
        return PlainTextResponse("the task service does not answer", status_code=503)
    return PlainTextResponse("ok")
