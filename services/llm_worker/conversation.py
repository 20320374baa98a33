"""A conversation as the worker keeps it in crud: since the last `!reset`, with the `!model` chosen."""

from __future__ import annotations

from proto.crud_client import CrudClient, CrudError
from proto.messages import ChatMessage


async def history(
    crud: CrudClient, thread_id: str, limit: int = 20, wait_s: float = 0.0
) -> tuple[list[ChatMessage], str | None]:
    """The conversation's messages since the last `!reset` (oldest first) and the model chosen for it
    with `!model`, if any; nothing if crud is away (a crud not running waited for up to `wait_s`)."""
    try:
        messages = await crud.conversation(thread_id, limit, wait_s=wait_s)
    except CrudError:
        return [], None
    return current(messages)


def current(messages: list[ChatMessage]) -> tuple[list[ChatMessage], str | None]:
    """Of a conversation's last entries (oldest first), the messages since the last `!reset` and the model
    chosen with `!model`, if any."""
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


async def remember(crud: CrudClient, message: ChatMessage) -> None:
    """Append a message to the conversation (the same message id is stored once); best effort."""
    try:
        await crud.append(message)
    except CrudError:
        pass
