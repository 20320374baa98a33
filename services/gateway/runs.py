"""Starting a chat run, shared by /ws and /agui: submitted to the worker queue, and who is there to take it."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from proto import subjects, tracing
from proto.codec import encode
from proto.messages import RunRequest
from proto.streams import ELECTION_S, through_election
from services.gateway.state import Gateway

log = logging.getLogger(__name__)

PING_WAIT_S = 2.0
COMMAND_WAIT_S = 2.0  # a worker says it took a chat command as soon as it hears it
NO_WORKER = "No model worker is running, so nobody can answer yet; start one (make run starts one)."
BUSY = "Every model worker is busy; your message is next in line."


async def submit(gateway: Gateway, request: RunRequest) -> None:
    """A chat command ("!help") goes straight to any one worker, which answers it at once whatever runs it
    has in hand; a message for the model (or a command when no worker runs yet) goes to the work queue (once
    per run id: JetStream drops a second submit of the same id). Raises whatever the bus raises when it is
    down or the queue is full."""
    headers = tracing.inject({"Nats-Msg-Id": request.run_id})
    if not (request.text.startswith("!") and await _worker_took(gateway, request, headers)):
        # Tried again while the queue elects a leader (a NATS node lost): the run id keeps it queued once.
        await through_election(
            lambda: gateway.js.publish(subjects.CHAT_SUBMIT, encode(request), headers=headers), ELECTION_S
        )
    gateway.count("runs_submitted_total")
    log.info("run_id=%s thread_id=%s model=%s submitted", request.run_id, request.thread_id, request.model or "default")


async def _worker_took(gateway: Gateway, request: RunRequest, headers: dict[str, str]) -> bool:
    """Whether a worker took the chat command (or may have: then queueing it too could answer it twice)."""
    try:
        reply = await gateway.nc.request(
            subjects.WORKER_COMMAND, encode(request), timeout=COMMAND_WAIT_S, headers=headers
        )
    except NoRespondersError:
        return False  # no worker yet: queued, it is answered when one starts (and the person hears none runs)
    except NatsTimeout:
        # Taken perhaps, by a worker too loaded to say so in time: its answer still comes as the run's
        # events. The relay says if nothing comes.
        log.warning("run_id=%s: no worker said it took the chat command in time", request.run_id)
        return True
    refused = (reply.headers or {}).get("Nats-Service-Error")
    if refused:
        # A worker of another version that cannot read it: the queue still gets it answered.
        log.warning("run_id=%s: a worker refused the chat command (%s); queued", request.run_id, refused)
    return not refused


async def workers_running(gateway: Gateway) -> bool:
    """Whether any llm_worker is there to take a run (`ping_workers`), asked once for every run that asks while
    the question is out: under load many runs pass their wait for a worker at the same moment, and every worker
    answers every PING."""
    if gateway.pinging is None or gateway.pinging.done():
        gateway.pinging = asyncio.ensure_future(ping_workers(gateway.nc))
    return await asyncio.shield(gateway.pinging)  # one asker leaving does not call it off for the others


async def ping_workers(nc: Client) -> bool:
    """Whether any llm_worker is there to take a run. With no worker at all NATS says so at once
    (no responders to the PING). A PING that someone listens to but nobody answers in time means
    workers too busy to answer (1,000 runs at once keep their event loops full), not none: the
    person hears that the message waits, never a false "start a worker"."""
    try:
        await nc.request(subjects.service_ping(subjects.WORKER_SERVICE), b"", timeout=PING_WAIT_S)
    except NoRespondersError:
        return False
    except NatsTimeout:
        return True
    except Exception:  # noqa: BLE001 - the bus itself failing: nobody can be reached
        return False
    return True
