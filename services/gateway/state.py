"""What every gateway handler shares: the `Gateway`, started by the app's lifespan, found in `request.state`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict

import jinja2
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from proto import subjects
from proto.bus import close as close_bus
from proto.bus import connect
from proto.commands import command_adapter
from proto.crud_client import CrudClient
from proto.messages import PERSON, CommandResult, Confirmation, ConfirmationEvent, TaskEvent, TaskPublic
from proto.streams import ensure_streams, through_election
from services.gateway.config import Settings
from services.gateway.hosts import AllowedHosts
from services.gateway.hub import Hub
from services.gateway.limits import SlidingWindow
from services.gateway.live import LiveRuns
from services.gateway.metrics import Metrics

HERE = Path(__file__).parent
START_ELECTION_S = 30.0


class Gateway:
    """Settings, the NATS connection and crud, the UI stream's fan-out, the templates and the figures.

    `closing` is set the moment the gateway starts to stop (uvicorn's exit, a signal): the open event
    streams end at once rather than holding the shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.allowed_hosts = AllowedHosts(settings.host, settings.allowed_hosts)
        self.chat_limit = SlidingWindow(settings.chat_per_minute)  # per client address, across its sockets
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
        )
        self.templates = Jinja2Templates(env=env)
        # Which start of the gateway served a page: in development a page that finds another one reloads.
        self.boot = uuid.uuid4().hex if settings.dev else ""
        self.closing = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None  # one context: making one per run cost a twentieth of the CPU
        self._crud: CrudClient | None = None
        self.hub: Hub | None = None
        self.live = LiveRuns()  # every run's events, live, for the relays that follow them
        self.pinging: asyncio.Task[bool] | None = None  # asking whether any worker runs (`runs.workers_running`)

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "the gateway is not connected to NATS"
        return self._nc

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            self._js = self.nc.jetstream()
        return self._js

    @property
    def crud(self) -> CrudClient:
        assert self._crud is not None, "the gateway is not connected to NATS"
        return self._crud

    async def start(self) -> None:
        self._nc = await connect(self.settings.nats_url, name="gateway")
        self._crud = CrudClient(self._nc)
        await self.live.start(self._nc)
        await ensure_streams(self.js)
        self.hub = hub = Hub(self.js, self.render_event, self.settings.sse_queue, self.metrics, self.closing)
        self.metrics.gauges["sse_clients"] = lambda: len(hub.followers)
        # A cluster's UI stream may still be electing its first leader as the gateway starts.
        await through_election(hub.start, START_ELECTION_S)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[State]:
        """The app's lifespan: started before the first request, stopped after the last; its state is
        what every request finds in `request.state`."""
        await self.start()
        # What was made to start (modules, templates, the bus client) lives as long as the process: out of
        # the collector's reach, so a full collection with thousands of streams open scans only theirs.
        gc.collect()
        gc.freeze()
        try:
            yield {"gateway": self}
        finally:
            await self.stop()

    async def stop(self) -> None:
        self.closing.set()
        if self.hub is not None:
            await self.hub.stop()
        await self.live.stop()
        if self._nc is not None:
            await close_bus(self._nc)
            self._nc = self._crud = None
            self._js = None

    def render_event(self, event: TaskEvent | ConfirmationEvent) -> str:
        """A changed task as the list item the page shows, or a confirmation as its card with Approve /
        Reject; rendered (and escaped) here, on one line."""
        if isinstance(event, ConfirmationEvent):
            return self.render_confirmation(event.confirmation)
        return self.render_item(event.task, event)

    def render_confirmation(self, confirmation: Confirmation) -> str:
        html: str = self.templates.get_template("partials/confirmation.html").render(c=confirmation)
        return html.replace("\n", "")

    def render_item(self, task: TaskPublic, event: TaskEvent | None = None) -> str:
        template = self.templates.get_template("partials/task.html")
        kind, actor = (event.kind, event.actor) if event else (None, None)
        html: str = template.render(task=task, kind=kind, actor=actor)
        return html.replace("\n", "")

    def count(self, name: str, by: int = 1) -> None:
        self.metrics.count(name, by)

    async def run(self, command: dict[str, Any], command_id: str | None = None) -> CommandResult:
        """Validate a person's command here (a clear 422 before anything travels) and have crud execute it
        (once per `command_id`, when the client gave an Idempotency-Key)."""
        parsed = command_adapter.validate_python(command)
        self.count("commands_total")
        started = time.monotonic()
        result = await self.crud.execute(parsed, PERSON, command_id=command_id)
        self.metrics.observe("command_seconds", time.monotonic() - started)
        return result

    async def ui_last_seq(self) -> int:
        try:
            info = await self.js.stream_info(subjects.UI_STREAM)
        except NotFoundError:
            return 0
        return int(info.state.last_seq)


class State(TypedDict):
    """The lifespan's state, copied into every request's `request.state`."""

    gateway: Gateway


def gateway_of(connection: HTTPConnection) -> Gateway:
    """The gateway serving this request or WebSocket."""
    gateway: Gateway = connection.state.gateway
    return gateway


def problems(error: ValidationError) -> str:
    """What was wrong with a person's input, in at most three short phrases."""
    parts = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][-1]) if item["loc"] else ""
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field and field not in ("create", "toggle", "delete") else message)
    return "; ".join(parts[:3])
