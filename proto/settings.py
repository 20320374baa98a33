"""Settings every service shares: where the bus is and where data lives."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    """The base of each service's Settings; read from the environment (and `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias="NATS_URL",
        description="where NATS is; credentials go in the URL (nats://user:password@host:4222); a cluster's "
        "nodes separated by commas (a service moves to another when its node goes away)",
    )
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        validation_alias="STREAM_REPLICAS",
        description="how many NATS servers keep a copy of each JetStream stream: 1 on a single server, 3 on "
        "a three-node cluster (crud creates the streams with it, `python -m proto.streams` changes them)",
    )
    data_dir: Path = Field(
        default=Path("var"),
        validation_alias="DATA_DIR",
        description="where a service keeps its files (crud's database, the embedded model)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        validation_alias="LOG_FORMAT",
        description="text: lines for a person; json: one JSON object per line (with run_id, command_id, trace_id)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LOG_LEVEL", description="the least important log lines written"
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        validation_alias="METRICS_HOST",
        description="the address crud's and the worker's metrics ports listen on (0.0.0.0 in a container)",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="send trace spans to this OTLP/HTTP collector (needs the otlp extra); unset: no span is "
        "recorded, trace and span ids still pass on and reach the logs",
    )
