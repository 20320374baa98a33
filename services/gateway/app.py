"""The gateway's app: `create_app()` and its routes, each served by the module that owns it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from services.gateway import agui, api, audit, pages
from services.gateway.agent_door import AgentDoor
from services.gateway.auth import Sessions, TokenGate, guess_throttle, login, logout
from services.gateway.bodies import BodyLimit
from services.gateway.chat import chat_socket
from services.gateway.config import Settings
from services.gateway.events import events
from services.gateway.headers import SecurityHeaders
from services.gateway.hosts import HostGate
from services.gateway.state import HERE, Gateway, State


def create_app(settings: Settings | None = None) -> Starlette:
    """The gateway's app with settings from the environment (or those given)."""
    return gateway_app(Gateway(settings or Settings()))


def gateway_app(gateway: Gateway) -> Starlette:
    """The app serving one gateway: its lifespan starts and stops it (and its MCP sessions)."""
    agents = AgentDoor(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with gateway.lifespan(app) as state, agents.running():
            yield state

    routes = [
        Route("/", pages.index),
        Route("/tasks", pages.add_task, methods=["POST"]),
        Route("/tasks/{task_id:int}/toggle", pages.toggle_task, methods=["POST"]),
        Route("/tasks/{task_id:int}/delete", pages.delete_task, methods=["POST"]),
        Route("/tasks/{task_id:int}/rename", pages.rename_task, methods=["POST"]),
        Route("/tasks/clear-completed", pages.clear_completed, methods=["POST"]),
        Route("/metrics", api.metrics),
        Route("/api/tasks", api.tasks, methods=["GET", "POST"]),
        Route("/api/tasks/{task_id:int}", api.task, methods=["DELETE"]),
        Route("/api/commands", api.command, methods=["POST"]),
        Route("/api/runs/{run_id}/confirmations/{call_id}", api.decide, methods=["POST"]),
        Route("/api/runs/{run_id}/cancel", agui.cancel, methods=["POST"]),
        Route("/agui", agui.run_agent, methods=["POST"]),
        Route("/mcp", agents, methods=["GET", "POST", "DELETE"]),
        Route("/api/conversations/{thread_id}", api.conversation),
        Route("/api/models", api.models),
        Route("/api/audit", audit.audit_api),
        Route("/audit", audit.audit_page),
        Route("/events", events),
        WebSocketRoute("/ws", chat_socket),
        Route("/healthz", api.healthz),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/assets/{name}", pages.asset),
        Route("/dev/boot", pages.boot),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    secret = gateway.settings.access_token  # never empty: the settings refuse a short token
    sessions = (
        Sessions(secret.get_secret_value(), gateway.settings.session_hours * 3600) if secret is not None else None
    )
    guesses = guess_throttle()
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(HostGate, allowed=gateway.allowed_hosts),
        Middleware(BodyLimit),
    ]
    if sessions is not None:
        middleware.append(Middleware(TokenGate, sessions=sessions, throttle=guesses))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.sessions = sessions
    app.state.throttle = guesses
    return app
