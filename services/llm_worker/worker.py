"""The llm_worker: pulls chat runs from the JetStream work queue and performs each one.

A run is acknowledged only after its last event is published, so a worker that dies mid-run leaves
the run to be redelivered to another worker (same run id, so its commands keep their ids and crud
applies each exactly once). `in_progress` heartbeats keep a long generation from being redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.micro import add_service
from nats.micro.service import ServiceConfig
from pydantic import BaseModel

from proto import subjects
from proto.bus import close as close_bus
from proto.bus import connect, stop_service
from proto.codec import DecodeError, decode, encode
from proto.crud_client import ID_REUSED, CrudClient, CrudError
from proto.events import RunStartedEvent, TextChunk, TextMessageEndEvent, TextMessageStartEvent
from proto.health import instance_metadata
from proto.messages import AuditEntry, CommandRequest, CommandResult, RunRequest
from proto.streams import ensure_streams, through_election
from proto.waiting import CalledOff, unless
from services.llm_worker import bang, intake, leases, memory, models, telemetry
from services.llm_worker.approval import Approvals
from services.llm_worker.backends import make_backend
from services.llm_worker.backends.base import Backend, Prompt
from services.llm_worker.config import Settings
from services.llm_worker.errors import HandedBack
from services.llm_worker.outgoing import PATIENCE_S, Acks, Outgoing, hold_for
from services.llm_worker.run import Run, perform

log = logging.getLogger(__name__)

FETCH_WAIT_S = 2.0
CRUD_START_WAIT_S = 5.0  # how long a run waits for a crud that is not running (yet)
CRUD_BUSY_WAIT_S = 30.0  # how long one request waits for a crud that is running
STOP_CHECK_S = 0.1  # while stopping, how often the runs in hand check that NATS is still there
ACK_TRY_S = 2.0
START_ELECTION_S = 30.0
MAX_RECORDED = 1000  # the most commands crud lists of one run; a run does far fewer


PASSING = (RunStartedEvent, TextMessageStartEvent, TextMessageEndEvent)
"""Events sent without waiting to be stored: the next one stored (a tool call, the run's end) confirms them."""


class Worker:
    """Takes runs from the queue, at most `settings.capacity` at a time."""

    def __init__(self, settings: Settings, nc: Client, backend: Backend) -> None:
        self.settings = settings
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.acks = Acks(nc)  # the acknowledgements of every run's text deltas
        self.backend = backend
        self._slots = asyncio.Semaphore(settings.capacity)
        self._runs: set[asyncio.Task[None]] = set()
        # The person's Stops (every worker hears every one): for runs in hand and runs not taken yet.
        self.stops = leases.Stops()
        self._stopping = asyncio.Event()
        self._fetching: asyncio.Task[list[Msg]] | None = None
        self._queue: JetStreamContext.PullSubscription | None = None
        self.crud = CrudClient(nc)
        # What a run reads before it starts waits longer for a crud that is running but busy (a burst of runs all
        # reading at once): a run failed for a slow answer is worse than one that starts late. A crud that is not
        # running is known at once. Commands keep the short wait and ask again under the same id.
        self.reads = CrudClient(nc, timeout_s=CRUD_BUSY_WAIT_S)
        self.approvals = Approvals(nc, self.crud, settings.confirm_timeout_s, self._stopping)
        self._cancels: Subscription | None = None
        self.completed = 0

    async def publish(self, event: BaseModel | TextChunk, out: Outgoing) -> None:
        """Publish one event of a run to its subject (captured by the CHAT_EVENTS stream).

        Text deltas, the run's start and a text message's start and end go out without waiting for
        JetStream's acknowledgement, so a token never waits for the one before it to be stored; tool calls
        and the run's end wait for it (and for everything before them). One connection keeps them in order
        either way, and `Outgoing` publishes them again should some not be stored (a NATS node lost)."""
        if isinstance(event, TextChunk):
            await out.text(event.message_id, event.delta)  # written from a template, maybe merged (Outgoing)
            return
        telemetry.saw(event, self.backend.name)
        if isinstance(event, PASSING):
            await out.passing(encode(event))  # confirmed with the next event stored (Outgoing)
            return
        await out.event(encode(event))

    def outgoing(self, run_id: str, attempt: int) -> Outgoing:
        """Where an attempt of a run sends its events."""
        return Outgoing(self.acks, run_id, attempt, hold=lambda: hold_for(len(self._runs)))

    async def execute(self, request: CommandRequest) -> CommandResult:
        """Execute one command; a crud that cannot take it becomes a failed result, not an exception."""
        # crud not answering is asked again under the same id for as long as the run may last: the outcome of
        # a command is known before the model hears of it, and it is never sent again under another id.
        left = self.approvals.remaining(request.run_id or "")
        try:
            return await self.crud.execute(
                request.command,
                request.actor,
                command_id=request.command_id,
                run_id=request.run_id,
                patience_s=self.settings.run_timeout_s if left is None else max(left, 0.0),
            )
        except CrudError as error:
            if error.code == ID_REUSED:
                # The id stands for another command of this run (an earlier attempt's, still in flight when
                # this one read crud's record): this command was not carried out, so it goes under its own id.
                log.warning("%s; sending it again under a new id", error)
                fresh = f"{request.command_id}-{uuid.uuid4().hex[:8]}"
                return await self.execute(request.model_copy(update={"command_id": fresh}))
            return CommandResult.refused(request.command_id, request.command.op, "internal", str(error))

    async def open(self) -> None:
        """Join the queue and hear every Stop, both confirmed by the server before this returns, so a
        Stop sent once the worker is announced is never missed."""
        config = ConsumerConfig(
            durable_name=subjects.RUNS_CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.settings.ack_wait_s,
            max_ack_pending=-1,
        )
        self._cancels = await self.nc.subscribe(subjects.CHAT_CANCEL_ALL, cb=self._remember_cancel)
        await self.acks.start()
        # On a cluster the queue's stream may still be electing its first leader when the worker starts.
        self._queue = await through_election(
            lambda: self.js.pull_subscribe(
                subjects.CHAT_SUBMIT, durable=subjects.RUNS_CONSUMER, stream=subjects.RUNS_STREAM, config=config
            ),
            START_ELECTION_S,
        )
        await self.nc.flush()

    async def serve(self) -> None:
        """Pull and perform runs until `stop()`; then let the runs in hand finish."""
        if self._queue is None:
            await self.open()
        sub, cancels = self._queue, self._cancels
        assert sub is not None and cancels is not None
        while not self._stopping.is_set():
            await intake.slot(sub, self._slots)
            if self._stopping.is_set():
                self._slots.release()
                break
            self._fetching = asyncio.create_task(sub.fetch(1, timeout=FETCH_WAIT_S))
            try:
                msgs = await asyncio.shield(self._fetching)
            except asyncio.CancelledError:
                if not self._fetching.cancelled():
                    raise
                self._slots.release()
                break
            except NatsTimeout:
                self._slots.release()
                continue
            except Exception as error:  # noqa: BLE001 - NATS reconnecting; try again shortly
                self._slots.release()
                log.warning("fetching runs failed (%r); retrying", error)
                await asyncio.sleep(0.5)
                continue
            msgs += await intake.more(sub, self._slots)
            for msg in msgs:
                task = asyncio.create_task(telemetry.taking(msg, self._take(msg)))
                self._runs.add(task)
                task.add_done_callback(self._runs.discard)
        if self._runs:
            await self._finish_runs()
        # A pull subscription left open makes draining the connection wait for its timeout.
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
            await cancels.unsubscribe()

    async def _finish_runs(self) -> None:
        """Let the runs in hand finish, while NATS is there. Without it they cannot (their commands go
        through crud, their events and acknowledgement through NATS): stopping then (Ctrl-C stops
        nats-server too) leaves them unacknowledged, and each is redelivered once a worker is back;
        the commands it already ran are not applied again."""
        pending = set(self._runs)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=STOP_CHECK_S)
            if pending and not self.nc.is_connected:
                log.info("NATS is gone: %d run(s) in hand go back to the queue", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return

    async def _remember_cancel(self, msg: Msg) -> None:
        self.stops.heard(msg.subject.rsplit(".", 1)[-1])

    def stop(self) -> None:
        self._stopping.set()
        if self._fetching is not None:
            self._fetching.cancel()
        # Wake a loop waiting for a free slot.
        self._slots.release()

    async def _take(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        except HandedBack as reason:
            log.info("%s; the run goes back to the queue for another worker", reason)
            with contextlib.suppress(Exception):
                await msg.nak()
        except Exception:
            log.exception("run failed unexpectedly; it will be redelivered")
            with contextlib.suppress(Exception):
                await msg.nak(delay=1.0)
        finally:
            self._slots.release()

    async def _handle(self, msg: Msg) -> None:
        try:
            request = decode(RunRequest, msg.data)
        except DecodeError as error:
            # Nobody can do anything with it: drop it for good, saying why.
            log.error("dropping a malformed run request: %s", error)
            await msg.term()
            return
        attempt = msg.metadata.num_delivered
        publish = functools.partial(self.publish, out=self.outgoing(request.run_id, attempt))
        run = Run(request, self.backend, publish, self.execute, self.approvals.confirm)
        run.attempt = attempt
        if attempt > self.settings.max_attempts:
            tries = attempt - 1
            plural = "s" if tries != 1 else ""
            await run.fail(f"A worker stopped in the middle of this run {tries} time{plural}; giving up.", "attempts")
            await msg.ack()
            return
        if self.stops.was_stopped(request.run_id):
            await run.fail("Stopped before a worker took it.", "cancelled")
            await msg.ack()
            return
        log.info("run %s: attempt %d: %r", request.run_id, attempt, request.text[:80])
        async with (
            leases.heartbeat(msg, self.settings.ack_wait_s / 3),
            # A Stop that comes between the check above and here is not lost: it is remembered until taken.
            self.stops.listening(request.run_id) as cancelled,
        ):
            # A run handed back (the worker stops without NATS) is cancelled here: its work, the
            # model's included, ends with it, before the backend is closed under it.
            try:
                await unless(self._perform(run, request), cancelled)
            except CalledOff:
                await run.fail("Stopped.", "cancelled")
        await self._ack(msg)
        self.completed += 1
        log.info("run %s: done", request.run_id)

    async def _ack(self, msg: Msg) -> None:
        """Acknowledge a performed run, confirmed by JetStream: an acknowledgement lost with a NATS node (or
        while the queue's leader is elected anew) would have the whole run performed again."""
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                await msg.ack_sync(timeout=ACK_TRY_S)
                return
            except Exception as error:  # noqa: BLE001 - tried again until the patience runs out
                if time.monotonic() > deadline:
                    log.warning("run: its acknowledgement was not confirmed (%r); it may be redelivered", error)
                    return
                await asyncio.sleep(ACK_TRY_S / 10)

    async def take_command(self, msg: Msg) -> None:
        """A chat command ("!help") sent as a request: said taken at once, then answered as a run of its own,
        beside the model runs in hand (it needs no slot: no model, a crud call at most)."""
        try:
            request = decode(RunRequest, msg.data)
            problem = "" if bang.is_bang(request.text) else "only chat commands (starting with “!”) are taken here"
        except DecodeError as error:
            problem = str(error)
        if problem:
            if msg.reply:
                with contextlib.suppress(Exception):
                    await self.nc.publish(msg.reply, problem.encode(), headers={"Nats-Service-Error": problem[:200]})
            return
        if self._stopping.is_set():
            return  # the gateway's request times out and it says so; a stopping worker starts nothing
        with contextlib.suppress(Exception):
            await msg.respond(b"")
        publish = functools.partial(self.publish, out=self.outgoing(request.run_id, 1))
        run = Run(request, self.backend, publish, self.execute, self.approvals.confirm)
        task = asyncio.create_task(self._answer_command(run, request))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _answer_command(self, run: Run, request: RunRequest) -> None:
        log.info("run %s: chat command %r", request.run_id, request.text[:40])
        try:
            async with self.stops.listening(request.run_id) as cancelled:
                await unless(self._converse(run, request), cancelled)
        except CalledOff:
            await run.fail("Stopped.", "cancelled")
        except Exception:
            log.exception("run %s: the chat command failed", request.run_id)
            with contextlib.suppress(Exception):
                await run.fail("The chat command failed; see the worker's log.", "internal")

    async def list_models(self, msg: Msg) -> None:
        """Answer the gateway's model picker (services.llm_worker.models)."""
        with contextlib.suppress(Exception):
            await msg.respond(encode(await models.listing(self.backend)))

    async def _perform(self, run: Run, request: RunRequest) -> None:
        try:
            # Held by the approvals: the run's clock stands still while it waits for the person.
            async with self.approvals.time_limit(request.run_id, self.settings.run_timeout_s):
                await self._converse(run, request)
        except TimeoutError:
            await run.fail(f"The model took longer than {self.settings.run_timeout_s:.0f} s; stopped.", "timeout")

    async def _converse(self, run: Run, request: RunRequest) -> None:
        """The run with the task list and its conversation: a chat command answered by the worker, any
        other message by the model; both kept in the conversation."""
        is_bang = bang.is_bang(request.text)
        # What a run starts from is read at once, not one round trip after another. A model run's list,
        # conversation and the changes made by hand come in one request, which also stores the person's
        # message; a chat command needs only the list. Each waits alike for a crud that is not running yet
        # (services started together).
        wait_s = CRUD_START_WAIT_S
        reading = self.reads.tasks(wait_s=wait_s) if is_bang else memory.begin(self.reads, request, wait_s)
        audit: list[AuditEntry] | None = None
        try:
            if run.attempt > 1:
                # Delivered before: what the earlier attempts did decides which ids this one's commands get.
                start, audit = await asyncio.gather(
                    reading, self.reads.audit(request.run_id, limit=MAX_RECORDED, wait_s=wait_s)
                )
            else:
                start = await reading  # alone, awaited here: no gathering's tasks for a first delivery
        except CrudError as error:
            await run.start()
            await run.fail(f"The task list is not available right now: {error.reason}.", "crud")
            return
        if audit is not None:
            run.resume(audit)
        if not isinstance(start, memory.Begun):
            # Kept in the conversation so a reloaded page shows it, but never shown to the model.
            await memory.remember(self.crud, request, "user", request.text)
            await bang.answer(self.crud, run, request, self.backend)
            if run.reply and not request.text.startswith("!reset"):
                await memory.remember(self.crud, request, "assistant", run.reply)
            return
        recalled = start.recalled
        model = request.model or recalled.model
        if model:
            run.use_model(model)
        recent = memory.done_by_hand(start.changes, recalled.answered_at)
        prompt = Prompt(text=request.text, tasks=start.tasks, history=recalled.turns, model=model, recent=recent)
        await perform(run, prompt)  # the reply is stored only after it
        if run.reply:
            await memory.remember(self.crud, request, "assistant", run.reply)


@contextlib.asynccontextmanager
async def running(settings: Settings, backend: Backend | None = None) -> AsyncIterator[Worker]:
    """A connected worker pulling runs, with its backend loaded; stops cleanly on exit."""
    nc = await connect(settings.nats_url, name="llm_worker")
    try:
        await ensure_streams(nc.jetstream())
        chosen = backend or await make_backend(settings)
        await chosen.start()
        worker = Worker(settings, nc, chosen)
        await worker.open()
        serving = asyncio.create_task(worker.serve())
        presence = await add_service(
            nc,
            ServiceConfig(
                name=subjects.WORKER_SERVICE,
                version="0.1.0",
                description="ghostbus LLM worker",
                metadata={
                    "backend": chosen.name,
                    "model": chosen.model,
                    "capacity": str(settings.capacity),
                    **instance_metadata(),
                },
            ),
        )
        listing = await nc.subscribe(subjects.WORKER_MODELS, cb=worker.list_models)
        commands = await nc.subscribe(
            subjects.WORKER_COMMAND, queue=subjects.WORKER_COMMAND_QUEUE, cb=worker.take_command
        )
        try:
            yield worker
        finally:
            with contextlib.suppress(Exception):
                await listing.unsubscribe()
                await commands.unsubscribe()
            await stop_service(nc, presence)
            worker.stop()
            await serving
            await chosen.close()
    finally:
        await close_bus(nc)
