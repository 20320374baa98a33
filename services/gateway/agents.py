"""`/mcp`: an MCP server (Streamable HTTP, the official `mcp` SDK) for outside agents, behind the gateway's
access token like every other route.

Its tools are the command language (proto/commands.py, the source of the model's tool definitions too) and
`list_tasks`; its resource `ghostbus://tasks` is the list, and a subscriber hears each change from the UI
stream. Each call is one crud command, as the actor `agent` named after the MCP client, under a command id
derived from the request (a retried call is applied once); a command that changes many tasks at once waits
for a person's Approve in any tab, as a model's does."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from pydantic import TypeAdapter, ValidationError

from proto.commands import COMMANDS, Identifier, command_adapter
from proto.crud_client import CrudError
from proto.messages import Actor, TaskEvent
from services.gateway.approvals import approved
from services.gateway.state import Gateway, problems

log = logging.getLogger(__name__)

TASKS_URI = "ghostbus://tasks"
LIST_TASKS = "list_tasks"
COMMAND_ID_META = "ghostbus/commandId"
"""A client that retries a call after a lost answer sends the same value here: the command is applied once."""
CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
DESTRUCTIVE = frozenset({"delete", "reorder", "clear_completed", "undo"})
ASKS_FIRST = frozenset({"reorder", "clear_completed", "undo"})  # as proto.commands.asks_first decides per call
_identifier: TypeAdapter[str] = TypeAdapter(Identifier)


def command_tools() -> list[types.Tool]:
    """One tool per command of the language: its name is the op, its schema the command's without `op`."""
    tools = []
    for cls in COMMANDS:
        op = cls.model_fields["op"].default
        schema = cls.model_json_schema()
        schema["properties"].pop("op", None)
        schema["required"] = [f for f in schema.get("required", []) if f != "op"]
        schema.pop("title", None)
        hints = types.ToolAnnotations(
            destructive_hint=op in DESTRUCTIVE, read_only_hint=False, idempotent_hint=op not in ("create", "toggle")
        )
        description = (cls.__doc__ or op).strip()
        if op in ASKS_FIRST:
            description += " Waits for a person to approve it in the task list when it changes many tasks."
        tools.append(types.Tool(name=op, description=description, input_schema=schema, annotations=hints))
    listing = types.Tool(
        name=LIST_TASKS,
        description="The task list in order: each task's id, name, done and version.",
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        annotations=types.ToolAnnotations(read_only_hint=True),
    )
    return [listing, *tools]


def refused(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def client_name(ctx: ServerRequestContext[Any, Any]) -> str:
    params = ctx.session.client_params
    if params is not None and params.client_info.name:
        return params.client_info.name[:200]
    info = (ctx.meta or {}).get(CLIENT_INFO_META) if isinstance(ctx.meta, Mapping) else None
    name = info.get("name") if isinstance(info, Mapping) else None
    return str(name)[:200] if name else "an MCP client"


def command_id(ctx: ServerRequestContext[Any, Any]) -> str:
    """The client's own id for the call when it sent one; else one derived from its MCP session and request
    id (a request sent again in the session is the same call); else a new one (a stateless request has
    nothing that tells a retry from a new call)."""
    meta = ctx.meta if isinstance(ctx.meta, Mapping) else {}
    given = meta.get(COMMAND_ID_META)
    if given is not None:
        return _identifier.validate_python(given)
    request = ctx.request
    session = request.headers.get("mcp-session-id") if request is not None else None
    if session and ctx.request_id is not None:
        return hashlib.sha256(f"{session}:{ctx.request_id}".encode()).hexdigest()[:40]
    return uuid.uuid4().hex


class AgentServer:
    """The MCP server of one gateway, its session manager and the subscribers' change feed."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.bus = InMemorySubscriptionBus()
        self.tools = command_tools()
        self.server: Server[Any] = Server(
            "ghostbus",
            version="1",
            instructions="A shared task list. Every change shows in every open tab; bulk changes wait for a person.",
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_read_resource=self.read_resource,
            on_subscriptions_listen=ListenHandler(self.bus),
        )
        self.sessions = StreamableHTTPSessionManager(app=self.server)
        self.asgi = StreamableHTTPASGIApp(self.sessions)
        self._notifying: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While the gateway runs: the MCP sessions, and list changes fed to subscribers."""
        async with self.sessions.run():
            hub = self.gateway.hub
            if hub is not None:
                hub.watchers.add(self.changed)
            try:
                yield
            finally:
                if hub is not None:
                    hub.watchers.discard(self.changed)

    def changed(self, event: Any) -> None:
        if isinstance(event, TaskEvent):
            task = asyncio.get_running_loop().create_task(self.bus.publish(ResourceUpdated(uri=TASKS_URI)))
            self._notifying.add(task)
            task.add_done_callback(self._notifying.discard)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tools)

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        listing = types.Resource(
            uri=TASKS_URI, name="tasks", description="The task list, in order", mime_type="application/json"
        )
        return types.ListResourcesResult(resources=[listing])

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        if str(params.uri) != TASKS_URI:
            raise ValueError(f"No resource {str(params.uri)[:100]!r}; there is {TASKS_URI}.")
        tasks = [t.model_dump() for t in await self.gateway.crud.tasks()]
        text = json.dumps(tasks, ensure_ascii=False)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=TASKS_URI, text=text, mime_type="application/json")]
        )

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            if params.name == LIST_TASKS:
                return await self.list_tasks()
            if params.name not in {t.name for t in self.tools}:
                return refused(f"Unknown tool {params.name[:60]!r}; list_tools names every tool.")
            return await self.command(ctx, params.name, dict(params.arguments or {}))
        except CrudError as error:
            return refused(str(error))

    async def list_tasks(self) -> types.CallToolResult:
        tasks = await self.gateway.crud.tasks()
        lines = [f"#{t.id} [{'x' if t.done else ' '}] {t.name}" for t in tasks] or ["The list is empty."]
        listed = {"tasks": [t.model_dump() for t in tasks]}
        return types.CallToolResult(content=[types.TextContent(text="\n".join(lines))], structured_content=listed)

    async def command(
        self, ctx: ServerRequestContext[Any, Any], op: str, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        try:
            command = command_adapter.validate_python(arguments | {"op": op})
            call_id = command_id(ctx)
        except ValidationError as error:
            return refused(f"Bad arguments for {op}: {problems(error)}. Nothing was changed.")
        actor = Actor(kind="agent", client=client_name(ctx))
        why_not = await approved(self.gateway, command, call_id, actor)
        if why_not is not None:
            return refused(why_not)
        self.gateway.count("commands_total")
        result = await self.gateway.crud.execute(command, actor, command_id=call_id)
        if not result.ok:
            reason = result.error.message if result.error else "refused"
            return refused(f"{reason} Nothing was changed.")
        log.info("agent %s: %s (command %s)", actor.client, result.summary, call_id)
        done: dict[str, Any] = {"summary": result.summary, "commandId": call_id}
        if result.task is not None:
            done["task"] = result.task.model_dump()
        return types.CallToolResult(content=[types.TextContent(text=result.summary)], structured_content=done)
