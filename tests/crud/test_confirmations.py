"""crud keeps the commands that wait for approval: asked once per call, answered once, each change an
event on the UI stream and a line in the audit trail; bad requests get a clear error."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout

from proto import subjects
from proto.codec import decode, decode_ui_event, encode
from proto.messages import (
    PERSON,
    Actor,
    CommandError,
    Confirmation,
    ConfirmationEvent,
    ConfirmationList,
    ConfirmationSettle,
    PendingRequest,
)
from services.crud.service import Crud

pytestmark = pytest.mark.usefixtures("crud")

MODEL = Actor(kind="model", backend="ollama", model="llama3.2")


def question(call_id: str = "run1-1") -> Confirmation:
    return Confirmation(
        call_id=call_id, run_id="run1", op="reorder", question="Put the list in this order?", asked_by=MODEL
    )


async def ask(nc: Client, asked: Confirmation) -> Confirmation:
    return decode(Confirmation, (await nc.request(subjects.CONFIRMATION_ASK, encode(asked), timeout=5)).data)


async def settle(nc: Client, call_id: str, state: str) -> Confirmation:
    answer = ConfirmationSettle.model_validate({"call_id": call_id, "state": state, "actor": PERSON})
    return decode(Confirmation, (await nc.request(subjects.CONFIRMATION_SET, encode(answer), timeout=5)).data)


async def pending(nc: Client) -> list[str]:
    reply = await nc.request(subjects.CONFIRMATION_PENDING, encode(PendingRequest()), timeout=5)
    return [c.call_id for c in decode(ConfirmationList, reply.data).confirmations]


async def ui_confirmations(nc: Client, crud: Crud) -> list[tuple[str, str]]:
    assert await crud.relay.flush(5)
    sub = await nc.jetstream().pull_subscribe(subjects.UI_CONFIRMATION, stream=subjects.UI_STREAM)
    try:
        msgs = await sub.fetch(100, timeout=2)
    except NatsTimeout:
        msgs = []  # the stream holds none
    finally:
        await sub.unsubscribe()
    events = [decode_ui_event(m.data) for m in msgs]
    return [(e.confirmation.call_id, e.confirmation.state) for e in events if isinstance(e, ConfirmationEvent)]


async def test_asked_once_answered_once_each_change_evented(nc: Client, crud: Crud) -> None:
    first = await ask(nc, question())
    again = await ask(nc, question())  # a redelivered run asks again
    assert first.state == again.state == "pending" and first.at == again.at
    assert await pending(nc) == ["run1-1"]
    assert (await settle(nc, "run1-1", "approved")).state == "approved"
    assert (await settle(nc, "run1-1", "rejected")).state == "approved"  # the first answer stands
    assert (await ask(nc, question())).state == "approved"  # a redelivered run finds the answer
    assert await pending(nc) == []
    assert await ui_confirmations(nc, crud) == [("run1-1", "pending"), ("run1-1", "approved")]
    audit = [(e.op, e.command["state"], e.actor.kind) for e in await crud.db.audit("run1", 10)]
    assert audit == [("confirm", "approved", "person"), ("confirm", "pending", "model")]


async def test_old_questions_are_not_offered_to_a_new_page(nc: Client, crud: Crud) -> None:
    await ask(nc, question("run1-1"))
    await crud.db.conn.execute("UPDATE confirmations SET updated_at = updated_at - 3600")
    await ask(nc, question("run1-2"))
    assert await pending(nc) == ["run1-2"]


async def test_bad_requests_get_a_clear_error_and_change_nothing(nc: Client, crud: Crud) -> None:
    for subject, payload in (
        (subjects.CONFIRMATION_ASK, b"\xff garbage"),
        (subjects.CONFIRMATION_ASK, json.dumps({"call_id": "x y", "run_id": "r", "op": "reorder"}).encode()),
        (
            subjects.CONFIRMATION_SET,
            json.dumps({"call_id": "c", "state": "pending", "actor": {"kind": "person"}}).encode(),
        ),
    ):
        reply = await nc.request(subject, payload, timeout=5)
        assert reply.headers and reply.headers["Nats-Service-Error-Code"] == "400"
        assert decode(CommandError, reply.data).code == "invalid"
    reply = await nc.request(
        subjects.CONFIRMATION_SET, encode(ConfirmationSettle(call_id="nope", state="approved", actor=PERSON)), timeout=5
    )
    assert reply.headers and reply.headers["Nats-Service-Error-Code"] == "404"
    assert "No confirmation nope was asked." in decode(CommandError, reply.data).message
    assert await pending(nc) == [] and await ui_confirmations(nc, crud) == []
