"""The adapter's settings: read once from the environment at start-up."""

import json
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adapter.providers import Effort, ProfileName, ThinkingMode
from farm_core.key_guard import key_from_file


class ModelRoute(BaseModel):
    """One model-map entry: the backend model, its output-token cap, provider profile and thinking."""

    model_config = ConfigDict(extra="forbid")

    model: str
    max_output_tokens: int | None = None
    profile: ProfileName | None = Field(
        None, description="Provider profile; default ADAPTER_PROFILE, else inferred."
    )
    thinking: ThinkingMode = Field(
        "auto", description="on | off | auto (as Claude Code asks, else the provider's default)."
    )
    effort: Effort | None = Field(
        None, description="Thinking effort sent upstream; default the one Claude Code asks for."
    )


class AdapterSettings(BaseSettings):
    """Everything the adapter reads from the environment."""

    # Errors never quote what was read: the input holds the gateway keys.
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", hide_input_in_errors=True)

    upstream_base_url: str = Field(
        "https://api.deepseek.com/v1",
        validation_alias=AliasChoices("ONEAPI_BASE_URL", "ANTHROPIC_BASE_URL"),
        description="OpenAI-compatible base URL; `/chat/completions` is appended.",
    )
    upstream_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ONEAPI_API_KEY", "ANTHROPIC_API_KEY"),
        description="Gateway key; it never leaves the adapter.",
    )
    default_model: str = Field(
        "deepseek-chat",
        validation_alias="CLAUDE_MODEL",
        description="Backend model used when the model map has no entry for the requested name.",
    )
    model_map: Annotated[dict[str, ModelRoute], NoDecode] = Field(
        default_factory=dict,
        validation_alias="ADAPTER_MODEL_MAP",
        description='JSON: Claude model family or name -> backend model, e.g. {"haiku": "deepseek-chat"}.',
    )
    profile: ProfileName | None = Field(
        None,
        validation_alias="ADAPTER_PROFILE",
        description="Provider profile of the gateway (deepseek, kimi, glm, qwen, gemini, openrouter, vllm, "
        "generic); default: inferred from ONEAPI_BASE_URL and the model name.",
    )
    reasoning_key: SecretStr | None = Field(
        None,
        validation_alias="ADAPTER_REASONING_KEY",
        description="Key sealing the reasoning clients carry back; default: derived from the gateway key.",
    )
    max_output_tokens: int = Field(
        8192,
        validation_alias="ADAPTER_MAX_OUTPUT_TOKENS",
        description="Cap on max_tokens sent upstream unless the model map sets one.",
    )
    fallback_base_url: str | None = Field(
        None,
        validation_alias="FALLBACK_BASE_URL",
        description="Gateway tried when the primary keeps failing.",
    )
    fallback_api_key: SecretStr | None = Field(None, validation_alias="FALLBACK_API_KEY")
    upstream_api_key_file: Path | None = Field(
        None,
        validation_alias="ONEAPI_API_KEY_FILE",
        description="File holding the gateway key instead of ONEAPI_API_KEY: read once at start, never in "
        "the environment.",
    )
    fallback_api_key_file: Path | None = Field(
        None,
        validation_alias="FALLBACK_API_KEY_FILE",
        description="File holding the fallback's key instead of FALLBACK_API_KEY.",
    )
    fallback_model: str | None = Field(
        None,
        validation_alias="FALLBACK_MODEL",
        description="Backend model on the fallback; default: the primary's.",
    )
    retries: int = Field(
        2,
        ge=0,
        le=10,
        validation_alias="ADAPTER_RETRIES",
        description="Retries per gateway on 429/5xx/connect errors.",
    )
    retry_max_wait_s: float = Field(
        20.0,
        ge=0,
        validation_alias="ADAPTER_RETRY_MAX_WAIT_S",
        description="Longest single wait between retries.",
    )
    upstream_timeout_s: float = Field(
        600.0,
        gt=0,
        validation_alias="ADAPTER_UPSTREAM_TIMEOUT_S",
        description="Whole-request timeout, non-streaming.",
    )
    stream_idle_timeout_s: float = Field(
        120.0,
        gt=0,
        validation_alias="ADAPTER_STREAM_IDLE_TIMEOUT_S",
        description="A stream silent this long is ended with an error event.",
    )
    client_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias="ADAPTER_TOKENS",
        description="Comma-separated tokens clients must present (x-api-key or Bearer).",
    )
    allow_anonymous: bool = Field(
        False,
        validation_alias="ADAPTER_ALLOW_ANONYMOUS",
        description="Serve clients without a token (loopback dev only).",
    )
    metrics_file: Path | None = Field(
        None, validation_alias="WORKER_METRICS_FILE", description="JSONL file, one row per upstream call."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        validation_alias="ADAPTER_MAX_BODY_BYTES",
        description="Longest request body read; past it (declared or counted as it arrives) 413 "
        "request_too_large. Claude Code's requests are KBs to a few MB, images included.",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        validation_alias="ADAPTER_HEADER_TIMEOUT_S",
        description="A client that has not sent a request's headers this long after connecting (or after the "
        "request's first byte, on a kept-alive connection) is disconnected.",
    )
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        validation_alias="ADAPTER_BODY_TIMEOUT_S",
        description="A client that has not sent a request's whole body this long after its headers is "
        "disconnected.",
    )
    job_max_concurrent: int = Field(
        8,
        ge=0,
        validation_alias="ADAPTER_JOB_MAX_CONCURRENT",
        description="Requests one job token may have in flight (a stream until it ends); past it 429. 0: no "
        "limit.",
    )
    job_rate_per_min: float = Field(
        240.0,
        ge=0,
        validation_alias="ADAPTER_JOB_RATE_PER_MIN",
        description="Requests a minute one job token may send, sustained; past it 429 with retry-after. 0: "
        "no limit.",
    )
    job_burst: int = Field(
        60,
        ge=1,
        validation_alias="ADAPTER_JOB_BURST",
        description="Requests one job token may send at once before ADAPTER_JOB_RATE_PER_MIN paces it.",
    )

    @field_validator("model_map", mode="before")
    @classmethod
    def _parse_model_map(cls, value: object) -> object:
        """Accept JSON text and bare `"family": "model"` entries."""
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if isinstance(value, dict):
            return {k: {"model": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("client_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @model_validator(mode="after")
    def _read_key_files(self) -> "AdapterSettings":
        """Each gateway key from its file when one is named; a key given both ways is refused."""
        self.upstream_api_key = _key(self.upstream_api_key, self.upstream_api_key_file, "ONEAPI_API_KEY")
        self.fallback_api_key = _key(self.fallback_api_key, self.fallback_api_key_file, "FALLBACK_API_KEY")
        return self

    def secrets(self) -> list[str]:
        """Every secret value this adapter holds, for log redaction."""
        values = [self.upstream_api_key, self.fallback_api_key, self.reasoning_key, *self.client_tokens]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def _key(value: SecretStr | None, path: Path | None, variable: str) -> SecretStr | None:
    if path is None:
        return value
    if value is not None:
        raise ValueError(f"set {variable} and {variable}_FILE, not both")
    return key_from_file(path, f"{variable}_FILE")
