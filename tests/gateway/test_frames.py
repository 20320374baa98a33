"""Bad chat frames are answered in words and never cost the person their socket or the answers under way;
the chat limit is per person (client address), not per socket."""

from __future__ import annotations

import json

import websockets
from nats.aio.client import Client

from proto.events import RunFinishedEvent, RunStartedEvent, TextMessageContentEvent, TextMessageStartEvent
from tests.gateway.test_chat import receive, ws_url
from tests.support.run_events import RunEvents

BAD_FRAMES: list[tuple[str | bytes, str]] = [
    (b"\x00\x01binary", "not binary ones"),
    ("[" * 8000 + "]" * 8000, "Unreadable message"),  # 16 KB; json.loads raises RecursionError
    ("not json", "Unreadable message"),
    ("[1, 2]", "Unreadable message"),
    ('"chat"', "Unreadable message"),
    ('{"type": 5}', "Unreadable message"),
    ('{"type": {"a": 1}}', "Unreadable message"),
    ('{"type": "chat"}', "text is missing"),
    ('{"type": "cancel", "runId": 7}', 'needs the "runId"'),
    ('{"type": "cancel", "runId": "../../x"}', 'needs the "runId"'),
    ('{"type": "cancel"}', 'needs the "runId"'),
    ('{"type": "cancel", "runId": "not-a-run-of-this-socket"}', "No answer with that runId"),
    ('{"type": "resume", "runId": ["x"]}', 'needs the "runId"'),
    ('{"type": "resume", "runId": ""}', 'needs the "runId"'),
]


async def test_bad_frames_get_an_error_and_the_socket_and_its_run_go_on(gateway_url: str, nc: Client) -> None:
    js = nc.jetstream()
    async with websockets.connect(ws_url(gateway_url)) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "hello"}))
        run_id = (await receive(ws))["runId"]
        run = RunEvents(js, run_id)
        # Acting as the worker: the run starts (so nobody is told no worker runs), then the bad frames come.
        await run.publish(RunStartedEvent(thread_id="t", run_id=run_id))
        assert (await receive(ws))["type"] == "RUN_STARTED"
        for frame, said in BAD_FRAMES:
            await ws.send(frame)
            answer = await receive(ws)
            assert answer["type"] == "error" and said in answer["message"], (frame[:40], answer)
        # The run this socket follows is still relayed, to the end.
        await run.publish(TextMessageStartEvent(message_id="m", role="assistant"))
        await run.publish(TextMessageContentEvent(message_id="m", delta="still here"))
        await run.publish(RunFinishedEvent(thread_id="t", run_id=run_id))
        got = [await receive(ws) for _ in range(3)]
        assert [g["type"] for g in got] == ["TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "RUN_FINISHED"]
        assert got[1]["delta"] == "still here" and got[1]["runId"] == run_id


async def test_the_chat_limit_is_per_person_not_per_socket(gateway_url: str) -> None:
    # The gateway under test takes 5 messages a minute; the person opens a second socket to send more.
    async with websockets.connect(ws_url(gateway_url)) as first, websockets.connect(ws_url(gateway_url)) as second:
        replies = []
        for n in range(6):
            ws = first if n % 2 else second
            await ws.send(json.dumps({"type": "chat", "text": f"hi {n}"}))
            replies.append(await receive(ws))
    assert [r["type"] for r in replies] == ["run"] * 5 + ["error"]
    assert "faster than the assistant can take them" in replies[-1]["message"]
