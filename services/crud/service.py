"""The crud service on the bus: a `nats.micro` service with one endpoint per command and one to list.

Commands are executed one at a time (the single writer). Whatever arrives, the sender gets a reply:
a `CommandResult`, with `Nats-Service-Error` headers when the request itself was not understood."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, Service, ServiceConfig

from proto import subjects
from proto.bus import close as close_bus
from proto.bus import connect, stop_service
from proto.codec import DecodeError, M, decode, encode
from proto.commands import OPS
from proto.health import instance_metadata
from proto.messages import (
    Appended,
    AuditList,
    AuditRequest,
    ChatMessage,
    CommandError,
    CommandRequest,
    CommandResult,
    Confirmation,
    ConfirmationList,
    ConfirmationSettle,
    Conversation,
    ConversationRequest,
    ListRequest,
    NoticeRequest,
    PendingRequest,
    TaskList,
    TurnBegin,
    TurnBegun,
)
from proto.streams import create_streams
from services.crud import telemetry
from services.crud.appends import Appends
from services.crud.config import Settings
from services.crud.db import Database
from services.crud.errors import IdReused
from services.crud.outbox import Relay

log = logging.getLogger(__name__)

VERSION = "0.1.0"
# What crud's shutdown may take, inside the 5 s that honcho (make run) allows before it kills a process.
FLUSH_ON_EXIT_S = 3.0
STOP_SERVICE_S = 1.0


def _command_id_of(data: bytes) -> str:
    """The command id of a request that failed validation, when one can be read from it."""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        value = json.loads(data).get("command_id")
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return "unknown"


@dataclass
class Crud:
    """A running crud service: its connection, database, outbox relay and micro service."""

    settings: Settings
    nc: Client
    db: Database
    relay: Relay
    service: Service | None = None

    def __post_init__(self) -> None:
        self.lock = asyncio.Lock()
        self.appends = Appends(self.db, self.lock)  # conversation messages, stored a group at a time

    async def handle_command(self, op: str, request: Request) -> None:
        started = time.monotonic()
        try:
            command_request = decode(CommandRequest, request.data)
            if command_request.command.op != op:
                raise DecodeError(
                    "CommandRequest", [f"command.op: {command_request.command.op} sent to the {op} endpoint"]
                )
        except DecodeError as error:
            telemetry.command_done(op, "invalid", started)
            await self._refuse(request, CommandError(code="invalid", message=str(error)), "400")
            return
        try:
            async with self.lock:
                result, new = await self.db.execute(command_request)
        except IdReused as reused:
            log.warning("%s", reused)
            await self._refuse(request, CommandError(code="conflict", message=str(reused)), "409", reused.command_id)
            return
        except Exception:
            log.exception("command %s failed", command_request.command_id)
            telemetry.command_done(op, "internal", started)
            failed = CommandError(code="internal", message="The task service failed to apply the command; try again.")
            await self._refuse(request, failed, "500", command_request.command_id)
            return
        if new and self.settings.crash_after_commit == command_request.command_id:
            os.kill(os.getpid(), signal.SIGKILL)  # the crash test: committed, never replied
        if new:
            self.relay.wake()
            log.info(
                "%s %s by %s: %s",
                command_request.command_id,
                op,
                command_request.actor.label(),
                result.summary or (result.error.message if result.error else ""),
            )
        telemetry.command_done(op, telemetry.outcome(result, new), started)
        await request.respond(encode(result))

    async def handle_list(self, request: Request) -> None:
        try:
            decode(ListRequest, request.data or b"{}")
        except DecodeError as error:
            await request.respond_error(
                "400", str(error), data=encode(CommandError(code="invalid", message=str(error)))
            )
            return
        await request.respond(encode(TaskList(tasks=await self.db.list_tasks())))

    async def handle_audit(self, request: Request) -> None:
        if (query := await _read(request, AuditRequest, body_optional=True)) is None:
            return
        entries = await self.db.audit(query.run_id, query.limit)
        await request.respond(encode(AuditList(entries=entries)))

    async def handle_append(self, request: Request) -> None:
        if (message := await _read(request, ChatMessage)) is None:
            return
        # Answered once stored, with the messages that came meanwhile; the next request is taken at once.
        self.appends.add(
            message, request, lambda stored: encode(Appended(message_id=message.message_id, stored=stored))
        )

    async def handle_recent(self, request: Request) -> None:
        if (query := await _read(request, ConversationRequest)) is None:
            return
        await self.appends.settled(query.thread_id)
        messages = await self.db.recent_messages(query.thread_id, query.limit)
        await request.respond(encode(Conversation(thread_id=query.thread_id, messages=messages)))

    async def handle_begin(self, request: Request) -> None:
        """A model run's start: what it starts from, read before its message is stored (the reads see the
        conversation as the run found it; a redelivered run's own message is left out by the worker)."""
        if (begin := await _read(request, TurnBegin)) is None:
            return
        await self.appends.settled(begin.message.thread_id)  # what the conversation was asked to keep before
        tasks = await self.db.list_tasks()
        messages = await self.db.recent_messages(begin.message.thread_id, begin.limit)
        changes = await self.db.changes_by_people(begin.changes_since, begin.changes) if begin.changes else []
        self.appends.add(
            begin.message,
            request,
            lambda stored: encode(TurnBegun(stored=stored, tasks=tasks, messages=messages, changes=changes)),
        )

    async def handle_notify(self, request: Request) -> None:
        if (notice := await _read(request, NoticeRequest)) is None:
            return
        async with self.lock:
            new = await self.db.notify(notice)
        if new:
            self.relay.wake()
        await request.respond(encode(CommandResult(command_id=notice.notice_id, ok=True, op="notify")))

    async def handle_ask(self, request: Request) -> None:
        if (asked := await _read(request, Confirmation)) is None:
            return
        async with self.lock:
            stored, new = await self.db.ask_confirmation(asked)
        if new:
            self.relay.wake()
        await request.respond(encode(stored))

    async def handle_settle(self, request: Request) -> None:
        if (answer := await _read(request, ConfirmationSettle)) is None:
            return
        async with self.lock:
            stored, changed = await self.db.settle_confirmation(
                answer.call_id, answer.state, answer.actor, answer.run_id
            )
        if stored is None:
            problem = CommandError(code="not_found", message=f"No confirmation {answer.call_id} was asked.")
            await request.respond_error("404", problem.message, data=encode(problem))
            return
        if changed:
            self.relay.wake()
        await request.respond(encode(stored))

    async def handle_pending(self, request: Request) -> None:
        if (query := await _read(request, PendingRequest, body_optional=True)) is None:
            return
        confirmations = await self.db.pending_confirmations(query.max_age_s)
        await request.respond(encode(ConfirmationList(confirmations=confirmations)))

    async def _refuse(self, request: Request, error: CommandError, code: str, command_id: str | None = None) -> None:
        result = CommandResult(command_id=command_id or _command_id_of(request.data), ok=False, error=error)
        await request.respond_error(code, error.message[:500], data=encode(result))


async def _read(request: Request, model: type[M], body_optional: bool = False) -> M | None:
    """The request's message, or None once one that does not decode has been answered with why (400).
    With `body_optional`, an empty request stands for the message with every default."""
    try:
        return decode(model, (request.data or b"{}") if body_optional else request.data)
    except DecodeError as error:
        problem = CommandError(code="invalid", message=str(error))
        await request.respond_error("400", problem.message[:500], data=encode(problem))
        return None


def _command_handler(crud: Crud, op: str) -> Callable[[Request], Awaitable[None]]:
    async def handler(request: Request) -> None:
        await crud.handle_command(op, request)

    return telemetry.traced(op, handler)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Crud]:
    """The crud service serving on the bus until the block exits; then it stops taking commands,
    finishes the one in hand, flushes the outbox and closes the database."""
    nc = await connect(settings.nats_url, name="crud")
    js = nc.jetstream()
    db: Database | None = None
    try:
        db = await Database.open(settings.db_path)
        for note in await create_streams(js, replicas=settings.stream_replicas):
            log.warning("%s", note)
    except BaseException:
        # A start that fails half-way closes what it opened: an open database keeps its thread, and with
        # it the process, alive after the error.
        if db is not None:
            await db.close()
        await close_bus(nc, timeout_s=1.0)
        raise
    relay = Relay(db, js, settings.relay_retry_s)
    relay.start()
    crud = Crud(settings, nc, db, relay)
    try:
        crud.service = await add_service(
            nc,
            ServiceConfig(
                name=subjects.CRUD_SERVICE,
                version=VERSION,
                description="ghostbus task list: the single writer",
                queue_group=subjects.CRUD_QUEUE,
                metadata=instance_metadata(),
            ),
        )
        for op in OPS:
            await crud.service.add_endpoint(
                EndpointConfig(
                    name=op, subject=subjects.crud_command(subjects.TASK_ENTITY, op), handler=_command_handler(crud, op)
                )
            )
        for name, subject, handler in (
            ("list", subjects.TASK_LIST, crud.handle_list),
            ("audit", subjects.AUDIT_LIST, crud.handle_audit),
            ("notify", subjects.NOTIFY, crud.handle_notify),
            ("confirmation_ask", subjects.CONFIRMATION_ASK, crud.handle_ask),
            ("confirmation_settle", subjects.CONFIRMATION_SET, crud.handle_settle),
            ("confirmation_pending", subjects.CONFIRMATION_PENDING, crud.handle_pending),
            ("conversation_append", subjects.CONVERSATION_APPEND, crud.handle_append),
            ("conversation_recent", subjects.CONVERSATION_RECENT, crud.handle_recent),
            ("conversation_begin", subjects.CONVERSATION_BEGIN, crud.handle_begin),
        ):
            await crud.service.add_endpoint(
                EndpointConfig(name=name, subject=subject, handler=telemetry.traced(name, handler))
            )
        yield crud
    finally:
        if crud.service is not None:
            await stop_service(nc, crud.service, STOP_SERVICE_S)
        await crud.appends.drain()
        async with crud.lock:
            if not await relay.flush(FLUSH_ON_EXIT_S, connected=lambda: nc.is_connected):
                log.warning("outbox: events still pending at exit; they are published at the next start")
        await relay.stop()
        await db.close()
        await close_bus(nc, timeout_s=1.0)
