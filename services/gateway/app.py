"""The gateway's app: `create_app()` and its routes, each served by the module that owns it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from services.gateway import api, pages
from services.gateway.auth import TokenGate, login
from services.gateway.chat import chat_socket
from services.gateway.config import Settings
from services.gateway.events import events
from services.gateway.state import HERE, Gateway


def create_app(settings: Settings | None = None) -> Starlette:
    """The gateway's app with settings from the environment (or those given)."""
    return gateway_app(Gateway(settings or Settings()))


def gateway_app(gateway: Gateway) -> Starlette:
    """The app serving one gateway: its lifespan starts and stops it."""
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
        Route("/api/conversations/{thread_id}", api.conversation),
        Route("/api/models", api.models),
        Route("/events", events),
        WebSocketRoute("/ws", chat_socket),
        Route("/healthz", api.healthz),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/assets/{name}", pages.asset),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    token = gateway.settings.access_token.get_secret_value() if gateway.settings.access_token else None
    middleware = [Middleware(TokenGate, token=token)] if token else []
    app = Starlette(routes=routes, lifespan=gateway.lifespan, middleware=middleware)
    app.state.access_token = token
    return app
