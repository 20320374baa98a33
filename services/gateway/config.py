"""The gateway's settings: where it listens, and the limits it puts on each browser."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from proto.settings import BusSettings

MIN_TOKEN = 16  # characters; a short token falls to guessing even with sign-ins throttled


class Settings(BusSettings):
    """Where the gateway listens and how patient it is with workers and browsers."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore", populate_by_name=True)

    host: str = Field(
        default="127.0.0.1",
        description="the address to listen on; other than loopback only with GATEWAY_ACCESS_TOKEN",
    )
    access_token: SecretStr | None = Field(
        default=None,
        description=f"when set (at least {MIN_TOKEN} characters), people sign in with it; required to listen on a "
        "non-loopback address",
    )
    allowed_hosts: str = Field(
        default="",
        description="names (comma-separated) the gateway answers to besides loopback and its own address, e.g. "
        "tasks.example.org; a request for any other Host gets 400",
    )
    session_hours: float = Field(
        default=168.0,
        gt=0,
        description="how long a sign-in lasts before the person signs in again",
    )
    chat_per_minute: int = Field(
        default=30,
        ge=1,
        description="chat messages a minute from one client address (all its sockets together)",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="the port to listen on")
    no_worker_s: float = Field(
        default=2.0,
        gt=0,
        description="how long a chat run may wait for a worker before the person is told none is running",
    )
    confirm_timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="how long an MCP tool call that needs a person's approval waits for it",
    )
    sse_queue: int = Field(
        default=1000,
        ge=10,
        description="events held for one slow browser before it is disconnected (it reconnects and replays)",
    )
    max_ws_message: int = Field(
        default=16_384,
        ge=1024,
        description="the largest chat WebSocket message accepted, in bytes",
    )
    dev: bool = Field(
        default=False,
        description="development (make dev): every open page reloads itself when this gateway restarts",
    )

    @field_validator("access_token")
    @classmethod
    def _token_long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        # Set but empty must never mean "no token": that opened the gateway to anyone who could reach it.
        if token is not None and len(token.get_secret_value()) < MIN_TOKEN:
            raise ValueError(
                f"GATEWAY_ACCESS_TOKEN is empty or shorter than {MIN_TOKEN} characters; use a long random one "
                "(openssl rand -hex 24), or unset it to listen on loopback without one"
            )
        return token
