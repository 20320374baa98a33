"""Chat commands that start with "!": answered by the worker itself, without the model."""

from __future__ import annotations

import time

from proto.commands import command_reference
from proto.crud_client import CrudClient, CrudError
from proto.messages import Actor, ChatMessage, NoticeRequest, RunRequest, same_model
from services.llm_worker import conversation
from services.llm_worker.backends.base import Backend
from services.llm_worker.run import Run

HELP = """\
I change the task list when you ask in plain words, e.g. “add apples”, “I finished the laundry”, \
“remove milk”. Behind the scenes every change is one of these commands:
{reference}
Chat commands: !help (this), !reset (start a new conversation), !test (send a test notification to \
every open page and time each hop), !model (list the models), !model NAME (use NAME in this conversation)."""


TEST_ACTOR = Actor(kind="model", backend="worker", model="!test")


def is_bang(text: str) -> bool:
    return text.startswith("!")


async def answer(crud: CrudClient, run: Run, request: RunRequest, backend: Backend) -> None:
    """Reply to a chat command as a normal run: started, a text message, finished."""
    word = request.text.split()[0].lower()
    await run.start()
    if word == "!help":
        text = HELP.format(reference=command_reference())
    elif word == "!reset":
        marker = ChatMessage(
            message_id=f"{request.run_id}-reset", thread_id=request.thread_id, role="assistant", text="", kind="reset"
        )
        await conversation.remember(crud, marker)
        text = "Started a new conversation: I no longer see the earlier messages."
    elif word == "!test":
        text = await _test(crud, request)
    elif word == "!model":
        text = await _model(crud, request, backend)
    else:
        text = f"I do not know {word}. Try !help."
    await run.text(text)
    await run.finish()


async def _model(crud: CrudClient, request: RunRequest, backend: Backend) -> str:
    """`!model` lists the backend's models; `!model NAME` picks one for this conversation."""
    models = await backend.models()
    words = request.text.split()
    if len(words) == 1:
        return "Models here: " + ", ".join(models) + f". This conversation uses {run_model(request, backend)}."
    wanted = words[1]
    chosen = next((m for m in models if same_model(m, wanted)), None)
    if chosen is None:
        return f"There is no model “{wanted}” here. Models here: " + ", ".join(models) + "."
    marker = ChatMessage(
        message_id=f"{request.run_id}-model",
        thread_id=request.thread_id,
        role="assistant",
        text=chosen,
        kind="model",
    )
    await conversation.remember(crud, marker)
    return f"From now on this conversation uses {chosen}."


def run_model(request: RunRequest, backend: Backend) -> str:
    return request.model or backend.model


async def _test(crud: CrudClient, request: RunRequest) -> str:
    picked_up = time.time()
    notice = NoticeRequest(
        notice_id=f"{request.run_id}-test",
        actor=TEST_ACTOR,
        level="success",
        text="Test notification: the chat, the worker, crud and the event stream all answer.",
        sent_at=request.submitted_at,
    )
    started = time.monotonic()
    try:
        await crud.notify(notice)
    except CrudError as error:
        return f"The test notification could not be sent: {error.reason}."
    crud_ms = (time.monotonic() - started) * 1000
    queue_ms = max(0.0, (picked_up - request.submitted_at) * 1000)
    return (
        "Sent a test notification to every open page.\n"
        f"gateway → worker: {queue_ms:.1f} ms\n"
        f"worker → crud (committed, in the outbox): {crud_ms:.1f} ms\n"
        "crud → event stream → every page: shown as a toast where it arrives."
    )
