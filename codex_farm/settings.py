"""What `codex-farm up` and `demo` read to choose their pieces (the pieces read their own settings)."""

import json
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalFarmSettings(BaseSettings):
    """Choices of a one-machine farm, read once from the environment."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    redis_url: str | None = Field(
        None, validation_alias="REDIS_URL", description="Use this Redis instead of starting one."
    )
    embedded_redis: bool = Field(
        False,
        validation_alias="FARM_EMBEDDED_REDIS",
        description="Embed Redis in-process even when redis-server is installed.",
    )
    gateway_url: str | None = Field(
        None, validation_alias="ONEAPI_BASE_URL", description="Real gateway; unset: scripted."
    )
    gateway_key: SecretStr | None = Field(None, validation_alias="ONEAPI_API_KEY", description="Its key.")
    sandbox_root: Path | None = Field(
        None,
        validation_alias="SANDBOX_ROOT",
        description="Default: the root `up` keeps, else the home directory.",
    )
    mcp_token: SecretStr | None = Field(
        None, validation_alias="FARM_MCP_TOKEN", description="Default: the token `up` keeps."
    )
    cache_dir: Path | None = Field(
        None, validation_alias="WORKER_CACHE_DIR", description="Default: the user's cache dir."
    )
    # Read by the worker and frontend `up` starts; `up` records them so `codex-farm env` can repeat them.
    queue: str | None = Field(
        None, validation_alias="FARM_QUEUE", description="The farm's queue(s), when not the default."
    )
    key_prefix: str | None = Field(
        None, validation_alias="FARM_KEY_PREFIX", description="Its key prefix, when not the default."
    )
    metrics_file: Path | None = Field(
        None, validation_alias="WORKER_METRICS_FILE", description="The adapter's metrics file, if any."
    )


class FlowerSettings(BaseSettings):
    """What `codex-farm flower` reads: the logins of the dashboard (it refuses to start without one)."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    basic_auth: SecretStr | None = Field(
        None,
        validation_alias="FLOWER_BASIC_AUTH",
        description="user:password[,user2:password2]; required by codex-farm flower.",
    )


class PriceEntry(BaseModel):
    """Prices of one model in USD per million tokens; `cache` defaults to the input price."""

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)
    cache: float | None = Field(None, ge=0)


class StatsSettings(BaseSettings):
    """What `codex-farm stats` reads: the metrics file and the prices behind its cost estimate."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    metrics_file: Path | None = Field(
        None, validation_alias="WORKER_METRICS_FILE", description="The adapter's JSONL metrics file."
    )
    price_input: float | None = Field(
        None,
        ge=0,
        validation_alias="WORKER_PRICE_INPUT",
        description="USD per million uncached input tokens, every model.",
    )
    price_output: float | None = Field(
        None,
        ge=0,
        validation_alias="WORKER_PRICE_OUTPUT",
        description="USD per million output tokens, every model.",
    )
    price_cache: float | None = Field(
        None,
        ge=0,
        validation_alias="WORKER_PRICE_CACHE",
        description="USD per million cached input tokens; default: the input price.",
    )
    price_table: dict[str, PriceEntry] = Field(
        default_factory=dict,
        validation_alias="WORKER_PRICE_TABLE",
        description='JSON per-model prices, e.g. {"deepseek-chat": {"input": 0.28, "output": 0.42, "cache": '
        "0.028}}.",
    )

    @field_validator("price_table", mode="before")
    @classmethod
    def _parse_price_table(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value
