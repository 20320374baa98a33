"""The crud service as the worker uses it: read the task list, execute a command."""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from proto import subjects
from proto.codec import DecodeError, decode, encode
from proto.messages import (
    ChatMessage,
    CommandRequest,
    CommandResult,
    Confirmation,
    ConfirmationSettle,
    Conversation,
    ConversationRequest,
    ListRequest,
    NoticeRequest,
    TaskList,
    TaskPublic,
)
from services.llm_worker.errors import CrudUnavailable

CRUD_TIMEOUT_S = 5.0
CRUD_POLL_S = 0.2
NO_CRUD = "no crud service is running"
SERVICE_ERROR_HEADER = "Nats-Service-Error"


async def _request(nc: Client, subject: str, payload: bytes) -> bytes:
    try:
        reply = await nc.request(subject, payload, timeout=CRUD_TIMEOUT_S)
    except NoRespondersError:
        raise CrudUnavailable(subject, NO_CRUD) from None
    except NatsTimeout:
        raise CrudUnavailable(subject, f"no reply within {CRUD_TIMEOUT_S:.0f} s") from None
    error = (reply.headers or {}).get(SERVICE_ERROR_HEADER)
    if error:
        raise CrudUnavailable(subject, error)
    data: bytes = reply.data
    return data


async def list_tasks(nc: Client, wait_s: float = 0.0) -> list[TaskPublic]:
    """The whole task list in list order. A crud that is not running is waited for up to `wait_s`:
    services started together (a restarted `make run`) may hand a worker a queued run before crud is up."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            data = await _request(nc, subjects.TASK_LIST, encode(ListRequest()))
            break
        except CrudUnavailable as error:
            if error.reason != NO_CRUD or time.monotonic() + CRUD_POLL_S > deadline:
                raise
            await asyncio.sleep(CRUD_POLL_S)
    try:
        return decode(TaskList, data).tasks
    except DecodeError as error:
        raise CrudUnavailable(subjects.TASK_LIST, str(error)) from None


async def execute(nc: Client, request: CommandRequest) -> CommandResult:
    """Execute one command; a crud that cannot be reached becomes a failed result, not an exception."""
    subject = subjects.crud_command(subjects.TASK_ENTITY, request.command.op)
    try:
        return decode(CommandResult, await _request(nc, subject, encode(request)))
    except (CrudUnavailable, DecodeError) as error:
        return CommandResult.refused(request.command_id, request.command.op, "internal", str(error))


async def history(nc: Client, thread_id: str, limit: int = 20) -> tuple[list[ChatMessage], str | None]:
    """The conversation's messages since the last `!reset` (oldest first) and the model chosen for it
    with `!model`, if any; nothing if crud is away."""
    try:
        query = encode(ConversationRequest(thread_id=thread_id, limit=limit))
        messages = decode(Conversation, await _request(nc, subjects.CONVERSATION_RECENT, query)).messages
    except (CrudUnavailable, DecodeError):
        return [], None
    for n in range(len(messages) - 1, -1, -1):
        if messages[n].kind == "reset":
            messages = messages[n + 1 :]
            break
    model = None
    kept = []
    for message in messages:
        if message.kind == "model":
            model = message.text
        elif message.kind == "message":
            kept.append(message)
    return kept, model


async def remember(nc: Client, message: ChatMessage) -> None:
    """Append a message to the conversation (the same message id is stored once); best effort."""
    try:
        await _request(nc, subjects.CONVERSATION_APPEND, encode(message))
    except CrudUnavailable:
        pass


async def notify(nc: Client, request: NoticeRequest) -> None:
    """Show a toast in every browser, through crud (workers cannot publish UI events themselves)."""
    await _request(nc, subjects.NOTIFY, encode(request))


async def ask(nc: Client, asked: Confirmation) -> Confirmation:
    """Show every browser a command waiting for approval; the reply is the confirmation as crud keeps
    it (already answered when a redelivered run asks again)."""
    data = await _request(nc, subjects.CONFIRMATION_ASK, encode(asked))
    try:
        return decode(Confirmation, data)
    except DecodeError as error:
        raise CrudUnavailable(subjects.CONFIRMATION_ASK, str(error)) from None


async def settle(nc: Client, answer: ConfirmationSettle) -> None:
    """Record how a confirmation ended; every browser replaces its buttons with the answer."""
    await _request(nc, subjects.CONFIRMATION_SET, encode(answer))
