"""The llm_worker's settings, read from the environment (prefix LLM_, plus OLLAMA_HOST and OLLAMA_MODEL)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from proto.settings import BusSettings


class Settings(BusSettings):
    """Which model backend to use and how long a run may take."""

    model_config = SettingsConfigDict(env_prefix="LLM_", env_file=".env", extra="ignore", populate_by_name=True)

    backend: Literal["auto", "embedded", "ollama", "openai", "scripted"] = Field(
        default="auto",
        description="auto: Ollama when it answers and has OLLAMA_MODEL, else embedded; or embedded, ollama, openai",
    )
    strategy: Literal["auto", "tools", "inline", "constrained"] = Field(
        default="auto",
        description="how a chat model gives commands: tools (native tool calls), inline (JSON in its text) or "
        "constrained (its whole answer held to a JSON schema of commands); the embedded model is always constrained",
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias="OPENAI_BASE_URL",
        description="any OpenAI-compatible endpoint (OpenAI, Groq, OpenRouter, vLLM, llama.cpp, Ollama /v1)",
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        validation_alias="OPENAI_API_KEY",
        description="the API key for OPENAI_BASE_URL (required with LLM_BACKEND=openai)",
    )
    openai_model: str = Field(
        default="gpt-4o-mini", validation_alias="OPENAI_MODEL", description="the model to ask at OPENAI_BASE_URL"
    )
    ollama_host: str = Field(
        default="http://127.0.0.1:11434", validation_alias="OLLAMA_HOST", description="the Ollama server"
    )
    ollama_model: str = Field(
        default="llama3.2", validation_alias="OLLAMA_MODEL", description="the Ollama model to use"
    )
    ollama_keep_alive: str = Field(
        default="10m", validation_alias="OLLAMA_KEEP_ALIVE", description="how long Ollama keeps the model loaded"
    )
    model_dir: Path = Field(
        default_factory=lambda data: Path(data["data_dir"]) / "models",
        description="where the embedded model file is assembled (once, checksum verified)",
    )
    run_timeout_s: float = Field(default=120.0, gt=0, description="the longest one chat run may take")
    confirm_timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="how long a command that needs the person's approval waits for it (not counted in the run's time)",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="how many times a run is tried (after a worker dies mid-run) before it ends with an error",
    )
    capacity: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="how many runs this worker takes at once",
    )
    ack_wait_s: float = Field(
        default=15.0,
        ge=1,
        description="a run not heard of for this long goes to another worker",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="serve Prometheus metrics on this port at /metrics (0: not served; each worker on one "
        "machine needs its own)",
    )
    script_tokens: int = Field(default=100, ge=0, description="scripted backend (benchmarks): tokens")
    script_rate: float = Field(
        default=50.0,
        ge=0,
        description="scripted backend: tokens per second (0: as fast as possible)",
    )
    script_commands: int = Field(default=0, ge=0, description="scripted backend: commands per run")
    threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description="CPU threads for the embedded model (0: one per core, at most 4); lower it when "
        "several workers share a machine",
    )

    @field_validator("openai_api_key")
    @classmethod
    def _openai_has_a_key(cls, key: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # compose gives every worker OPENAI_API_KEY, empty outside the cloud profile: refuse that at start.
        # A field check (not a model one), so the error shows this value only, never NATS_URL's password.
        if info.data.get("backend") == "openai" and not (key and key.get_secret_value().strip()):
            raise ValueError(
                "LLM_BACKEND=openai needs OPENAI_API_KEY, the API key for OPENAI_BASE_URL (for an endpoint "
                "that takes no key, such as a local llama.cpp server, set any value)"
            )
        return key
