"""The crud service's settings: the bus, and where its SQLite file lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from proto.settings import BusSettings


class Settings(BusSettings):
    """Where the database is, and how long the outbox relay waits between retries."""

    model_config = SettingsConfigDict(env_prefix="CRUD_", env_file=".env", extra="ignore", populate_by_name=True)

    db_file: str = Field(
        default="ghostbus.sqlite3",
        description="the SQLite file's name, inside DATA_DIR",
    )
    relay_retry_s: float = Field(
        default=0.5,
        gt=0,
        description="the longest the outbox relay waits before publishing again after NATS failed",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="serve Prometheus metrics on this port at /metrics (0: not served)",
    )

    crash_after_commit: str | None = Field(
        default=None,
        description="testing only: SIGKILL the service right after committing this command id, before replying",
    )

    @property
    def db_path(self) -> Path:
        return self.data_dir / self.db_file
