"""What `codex-farm up` and `demo` read to choose their pieces (the pieces read their own settings)."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalFarmSettings(BaseSettings):
    """Choices of a one-machine farm, read once from the environment."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    redis_url: str | None = Field(None, validation_alias="REDIS_URL", description="Use this Redis instead of starting one.")
    embedded_redis: bool = Field(
        False, validation_alias="FARM_EMBEDDED_REDIS", description="Embed Redis in-process even when redis-server is installed."
    )
    gateway_url: str | None = Field(None, validation_alias="ONEAPI_BASE_URL", description="Real gateway; unset: scripted.")
    gateway_key: SecretStr | None = Field(None, validation_alias="ONEAPI_API_KEY", description="Its key.")
    sandbox_root: Path | None = Field(None, validation_alias="SANDBOX_ROOT", description="Default: the current directory.")
    mcp_token: SecretStr | None = Field(None, validation_alias="FARM_MCP_TOKEN", description="Default: a fresh token.")
    cache_dir: Path | None = Field(None, validation_alias="WORKER_CACHE_DIR", description="Default: the user's cache dir.")
