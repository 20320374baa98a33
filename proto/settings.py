"""Settings every service shares: where the bus is and where data lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    """The base of each service's Settings; read from the environment (and `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias="NATS_URL",
        description="where NATS is; credentials go in the URL (nats://user:password@host:4222)",
    )
    data_dir: Path = Field(
        default=Path("var"),
        validation_alias="DATA_DIR",
        description="where a service keeps its files (crud's database, the embedded model)",
    )
