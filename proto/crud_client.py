"""crud's endpoints as typed calls: how every service asks the task service for anything."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from proto import subjects, tracing
from proto.codec import DecodeError, M, decode, encode
from proto.commands import AnyCommand
from proto.messages import (
    Actor,
    Appended,
    AuditEntry,
    AuditList,
    AuditRequest,
    ChatMessage,
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
    TaskPublic,
    TurnBegin,
    TurnBegun,
)

T = TypeVar("T")

CRUD_TIMEOUT_S = 5.0
PATIENCE_S = 15.0
"""How long `execute` keeps asking, under the same command id, a crud that does not answer or is not there."""
RETRY_PAUSE_S = (0.1, 1.0)
"""The first and the longest pause before asking again a crud that is not there (it may be reconnecting)."""
START_POLL_S = 0.2
# How a nats.micro service says that it could not do what was asked (the reply's body is then not
# the message the endpoint promises).
ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"

ID_REUSED = "409"
"""crud's code for a command id that already stands for another command (nothing was done)."""
NOT_RUNNING = "not_running"
TIMED_OUT = "timeout"
BAD_REPLY = "bad_reply"


class CrudError(RuntimeError):
    """crud could not be reached, or answered that it could not do what was asked.

    `reason` says why, in crud's own words when it gave any; `code` is crud's error code ("400", "404",
    "500") when it answered with one, else `not_running`, `timeout` or `bad_reply`. The message is a
    sentence for a person."""

    def __init__(self, subject: str, reason: str, code: str) -> None:
        self.subject = subject
        self.reason = reason.strip().rstrip(".")
        self.code = code
        super().__init__(self.reason[:1].upper() + self.reason[1:] + ".")


class CrudClient:
    """One service's connection to crud: each method is one endpoint, typed both ways."""

    def __init__(self, nc: Client, timeout_s: float = CRUD_TIMEOUT_S, patience_s: float = PATIENCE_S) -> None:
        self.nc = nc
        self.timeout_s = timeout_s
        self.patience_s = patience_s

    async def _call(self, subject: str, message: BaseModel, answer: type[M], timeout_s: float | None = None) -> M:
        timeout_s = timeout_s or self.timeout_s
        try:
            reply = await self.nc.request(subject, encode(message), timeout=timeout_s, headers=tracing.inject())
        except NoRespondersError:
            raise CrudError(subject, "the task service is not running; try again in a moment", NOT_RUNNING) from None
        except NatsTimeout:
            reason = f"the task service did not answer within {timeout_s:g} s; try again"
            raise CrudError(subject, reason, TIMED_OUT) from None
        headers = reply.headers or {}
        if refused := headers.get(ERROR_HEADER):
            raise CrudError(subject, refused, headers.get(ERROR_CODE_HEADER) or "500")
        try:
            return decode(answer, reply.data)
        except DecodeError as error:
            raise CrudError(
                subject, f"the task service answered with something unexpected: {error}", BAD_REPLY
            ) from None

    async def execute(
        self,
        command: AnyCommand,
        actor: Actor,
        *,
        command_id: str | None = None,
        run_id: str | None = None,
        patience_s: float | None = None,
    ) -> CommandResult:
        """Execute one command (once per `command_id`: the same id asked again gets the first result).
        A command crud carried out or refused in words (not found, a conflict) is the result; a crud
        that could not take the command at all is a CrudError.

        No answer in time is not a failure: crud may have committed and replied late. So is no crud at
        all, right after a reconnect, until crud has subscribed again. Either way the command is asked
        again under the same id (crud answers an id it has done with what it did) until crud answers or
        `patience_s` (default: the client's) has passed; only then a CrudError, which says that the
        outcome is not known when a request went unanswered."""
        request = CommandRequest(command_id=command_id or uuid.uuid4().hex, actor=actor, run_id=run_id, command=command)
        subject = subjects.crud_command(subjects.TASK_ENTITY, command.op)
        deadline = time.monotonic() + (self.patience_s if patience_s is None else patience_s)
        pause, unanswered = RETRY_PAUSE_S[0], False
        while True:
            left = deadline - time.monotonic()
            try:
                return await self._call(subject, request, CommandResult, max(min(self.timeout_s, left), 0.1))
            except CrudError as error:
                if error.code not in (TIMED_OUT, NOT_RUNNING):
                    raise
                unanswered = unanswered or error.code == TIMED_OUT
                # A timeout has waited already; no responders comes at once, so wait a little before asking.
                wait = pause if error.code == NOT_RUNNING else 0.0
                if deadline - time.monotonic() <= wait:
                    raise self._gave_up(subject, error, unanswered) from None
            if wait:
                await asyncio.sleep(wait)
                pause = min(pause * 2, RETRY_PAUSE_S[1])

    def _gave_up(self, subject: str, last: CrudError, unanswered: bool) -> CrudError:
        if not unanswered:
            return last  # never reached: nothing was done
        reason = (
            "the task service did not answer in time, so whether the command was carried out is not known"
            " (the task list shows it); it was not sent again under a new id"
        )
        return CrudError(subject, reason, TIMED_OUT)

    async def _waiting(self, read: Callable[[], Awaitable[T]], wait_s: float) -> T:
        """A read; a crud that is not running is waited for up to `wait_s`: services started together may
        need it before it is up."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return await read()
            except CrudError as error:
                if error.code != NOT_RUNNING or time.monotonic() + START_POLL_S > deadline:
                    raise
            await asyncio.sleep(START_POLL_S)

    async def tasks(self, wait_s: float = 0.0) -> list[TaskPublic]:
        """The whole task list in list order (a crud not running waited for up to `wait_s`)."""
        listed = await self._waiting(lambda: self._call(subjects.TASK_LIST, ListRequest(), TaskList), wait_s)
        return listed.tasks

    async def conversation(self, thread_id: str, limit: int = 20, wait_s: float = 0.0) -> list[ChatMessage]:
        """The last `limit` messages of a conversation, oldest first (a crud not running waited for up to
        `wait_s`)."""
        query = ConversationRequest(thread_id=thread_id, limit=limit)
        found = await self._waiting(lambda: self._call(subjects.CONVERSATION_RECENT, query, Conversation), wait_s)
        return found.messages

    async def begin(self, begin: TurnBegin, wait_s: float = 0.0) -> TurnBegun:
        """A model run's start in one request: its message stored, and the list, the conversation and the
        latest changes read. A crud not running yet is waited for up to `wait_s`."""
        return await self._waiting(lambda: self._call(subjects.CONVERSATION_BEGIN, begin, TurnBegun), wait_s)

    async def append(self, message: ChatMessage) -> bool:
        """Add a message to its conversation; False when one with its id was stored already."""
        return (await self._call(subjects.CONVERSATION_APPEND, message, Appended)).stored

    async def notify(self, notice: NoticeRequest) -> None:
        """Show a toast in every browser (only crud publishes UI events)."""
        await self._call(subjects.NOTIFY, notice, CommandResult)

    async def ask(self, asked: Confirmation) -> Confirmation:
        """Show every browser a command waiting for approval; the answer is the confirmation as crud keeps
        it (already answered when the same question was asked before)."""
        return await self._call(subjects.CONFIRMATION_ASK, asked, Confirmation)

    async def settle(self, answer: ConfirmationSettle) -> Confirmation:
        """Record how a confirmation ended; every browser replaces its buttons with the answer."""
        return await self._call(subjects.CONFIRMATION_SET, answer, Confirmation)

    async def pending_confirmations(self) -> list[Confirmation]:
        """The questions still waiting for a person's answer."""
        return (await self._call(subjects.CONFIRMATION_PENDING, PendingRequest(), ConfirmationList)).confirmations

    async def audit(self, run_id: str | None = None, limit: int = 100, wait_s: float = 0.0) -> list[AuditEntry]:
        """What was done, newest first: every command, or those of one run (a crud not running waited for
        up to `wait_s`)."""
        query = AuditRequest(run_id=run_id, limit=limit)
        return (await self._waiting(lambda: self._call(subjects.AUDIT_LIST, query, AuditList), wait_s)).entries

    async def ping(self, timeout_s: float = 1.0) -> None:
        """Return once some crud instance answers its nats.micro PING; a CrudError if none does in time."""
        subject = subjects.service_ping(subjects.CRUD_SERVICE)
        try:
            await self.nc.request(subject, b"", timeout=timeout_s)
        except NoRespondersError:
            raise CrudError(subject, "the task service is not running", NOT_RUNNING) from None
        except NatsTimeout:
            raise CrudError(subject, "the task service does not answer", TIMED_OUT) from None
