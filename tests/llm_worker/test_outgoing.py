"""A run's text deltas on their way into the stream: written from a template (the same bytes as the model
would give), sent alone and at once while nothing of the run is in flight, merged under load, in order and
whole either way."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.client import Client

from proto import subjects
from proto.codec import encode, encode_text_delta, unbundle
from proto.events import TextMessageContentEvent
from services.llm_worker.outgoing import BUSY_RUNS, HOLD_MAX_S, HOLD_MIN_S, TICK_S, Acks, Outgoing, hold_for

HOLD_S = 0.04


@pytest.mark.parametrize(
    "delta",
    ["word ", " ", 'say "hi" \\ back', "line\nbreak\ttab\r", "\u0007\u001f\u007f", "é 漢 👨‍👩‍👧", "\u2028</script>/"],
)
def test_a_delta_from_the_template_is_the_event_the_model_would_give(delta: str) -> None:
    assert encode_text_delta("m-1", delta) == encode(TextMessageContentEvent(message_id="m-1", delta=delta))


async def stored(nc: Client, run_id: str, last: str = "TEXT_MESSAGE_END") -> list[dict[str, object]]:
    """The run's events as the stream holds them, each message's events one by one, up to the first `last`."""
    sub = await nc.jetstream().subscribe(subjects.run_events(run_id), ordered_consumer=True)
    out = []
    try:
        while not out or out[-1]["type"] != last:
            out += [json.loads(event) for event in unbundle((await sub.next_msg(timeout=10)).data)]
    finally:
        await sub.unsubscribe()
    return out


async def started_acks(nc: Client) -> Acks:
    acks = Acks(nc)
    await acks.start()
    return acks


async def start(out: Outgoing) -> None:
    await out.event(b'{"type":"TEXT_MESSAGE_START","messageId":"m","role":"assistant"}')


END = b'{"type":"TEXT_MESSAGE_END","messageId":"m"}'


async def test_deltas_given_faster_than_they_are_acknowledged_go_out_merged_in_order(nc: Client) -> None:
    out = Outgoing(await started_acks(nc), "burst", 1)
    await start(out)
    words = [f"w{n} " for n in range(300)]
    for word in words:
        await out.text("m", word)  # no pause: each next one comes while the last is in flight
    await out.event(END)
    events = await stored(nc, "burst")
    texts = [e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert "".join(texts) == "".join(words)  # (a str is never split: merged deltas are whole words here)
    assert len(texts) < len(words) / 2, f"{len(texts)} events for {len(words)} deltas"
    assert all(e["messageId"] == "m" for e in events)
    assert out.merged == len(words) - len(texts)


async def test_a_delta_with_nothing_in_flight_goes_out_alone_at_once(nc: Client) -> None:
    out = Outgoing(await started_acks(nc), "calm", 1)
    await start(out)
    words = [f"w{n} " for n in range(20)]
    for word in words:
        await out.text("m", word)
        assert out.waiting is None, "a delta with nothing in flight waited"
        async with asyncio.timeout(10):
            while not out.unacked or not out.unacked[-1][2].done():  # a reader at 20 tok/s: acknowledged by then
                await asyncio.sleep(0.005)
    await out.event(END)
    texts = [e["delta"] for e in await stored(nc, "calm") if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert texts == words and out.merged == 0


async def test_a_merged_delta_waits_no_longer_than_the_cap_when_nothing_follows(nc: Client) -> None:
    out = Outgoing(await started_acks(nc), "tail", 1)
    await start(out)
    await out.text("m", "first ")
    await out.text("m", "second ")  # right behind the first, still in flight: waits to be merged
    async with asyncio.timeout(5):
        while out.waiting is not None:  # no later delta and no other event: the cap sends it
            await asyncio.sleep(0.005)
    await out.event(END)
    texts = [e["delta"] for e in await stored(nc, "tail") if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert "".join(texts) == "first second "


async def test_a_busy_worker_holds_each_run_s_deltas_and_sends_them_merged_in_order(nc: Client) -> None:
    # Hundreds of runs at once: a run's deltas are held though each was acknowledged long before the next
    # came, and the reader still gets every word, in order, none later than the hold.
    out = Outgoing(await started_acks(nc), "busy", 1, hold=lambda: HOLD_S)
    await start(out)
    words = [f"w{n} " for n in range(12)]
    for word in words:
        await out.text("m", word)
        assert out.waiting is not None, "a busy worker's delta went out alone"
        await asyncio.sleep(0.01)  # a token every 10 ms, acknowledged well within it
    async with asyncio.timeout(HOLD_S + 0.5):
        while out.waiting is not None:  # the last batch: sent by the hold's timer
            await asyncio.sleep(0.005)
    await out.event(END)
    texts = [e["delta"] for e in await stored(nc, "busy") if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert "".join(texts) == "".join(words)
    assert len(texts) <= len(words) / 2, f"{len(texts)} events for {len(words)} deltas"


def test_a_worker_holds_deltas_only_with_many_runs_in_hand_and_longer_the_more_up_to_a_cap() -> None:
    assert hold_for(1) == hold_for(BUSY_RUNS - 1) == 0.0  # a single answer's tokens go at once
    assert 0 < hold_for(BUSY_RUNS) == HOLD_MIN_S < hold_for(8 * BUSY_RUNS) <= HOLD_MAX_S == hold_for(10_000)


async def test_a_run_start_and_a_message_start_and_end_go_out_unwaited_and_are_stored_by_the_next_stored_event(
    nc: Client,
) -> None:
    out = Outgoing(await started_acks(nc), "unwaited", 1)
    await out.passing(b'{"type":"RUN_STARTED","threadId":"t","runId":"unwaited"}')
    await out.passing(b'{"type":"TEXT_MESSAGE_START","messageId":"m","role":"assistant"}')
    assert len(out.unacked) == 2  # sent, their acknowledgements only counted: nothing waited for them
    await out.text("m", "hello")
    await out.passing(END)
    await out.event(b'{"type":"RUN_FINISHED","threadId":"t","runId":"unwaited"}')
    assert not out.unacked  # the run's end was stored with everything before it
    sub = await nc.jetstream().subscribe(subjects.run_events("unwaited"), ordered_consumer=True)
    try:
        kinds = [json.loads((await sub.next_msg(timeout=10)).data)["type"] for _ in range(5)]
    finally:
        await sub.unsubscribe()
    assert kinds == ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"]


async def test_a_busy_worker_sends_a_run_s_start_and_a_message_s_end_with_what_follows_and_the_stream_keeps_the_order(
    nc: Client,
) -> None:
    out = Outgoing(await started_acks(nc), "bundled", 1, hold=lambda: HOLD_S)
    await out.passing(b'{"type":"RUN_STARTED","threadId":"t","runId":"bundled"}')
    await out.passing(b'{"type":"TEXT_MESSAGE_START","messageId":"m","role":"assistant"}')
    assert not out.sent, "a busy worker's run start went out alone"
    await out.text("m", "a ")
    await out.text("m", "b ")
    async with asyncio.timeout(HOLD_S + 0.5):
        while out.riding or out.waiting is not None:  # due at the hold's timer, all in one message
            await asyncio.sleep(0.005)
    await out.text("m", "c ")
    await out.passing(END)
    await out.event(b'{"type":"RUN_FINISHED","threadId":"t","runId":"bundled"}')  # stored with the text before it
    assert len(out.sent) == 2 and not out.unacked
    events = await stored(nc, "bundled", last="RUN_FINISHED")
    assert [(e["type"], e.get("delta")) for e in events] == [
        ("RUN_STARTED", None),
        ("TEXT_MESSAGE_START", None),
        ("TEXT_MESSAGE_CONTENT", "a b "),
        ("TEXT_MESSAGE_CONTENT", "c "),
        ("TEXT_MESSAGE_END", None),
        ("RUN_FINISHED", None),
    ]


async def test_the_held_batches_of_a_busy_worker_s_runs_are_due_together_on_its_tick(nc: Client) -> None:
    # Runs whose batches come due within one tick send them in the same turn of the loop: one write to NATS
    # for all of them, not one each. None is sent before its hold, none more than a tick after.
    acks = await started_acks(nc)
    runs = [Outgoing(acks, f"tick{n}", 1, hold=lambda: HOLD_S) for n in range(3)]
    loop = asyncio.get_running_loop()
    asked = []
    for out in runs:
        asked.append(loop.time())
        await out.text("m", "word ")
        await asyncio.sleep(TICK_S / 4)
    due = [out.timer.when() for out in runs if out.timer is not None]
    assert len(due) == 3
    assert all(at + HOLD_S <= when <= at + HOLD_S + TICK_S + 0.001 for at, when in zip(asked, due, strict=True))
    assert all(round(when / TICK_S, 6).is_integer() for when in due)
    for out in runs:
        await out.event(END)
