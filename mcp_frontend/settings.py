"""The MCP frontend's settings, read once from the environment."""

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mcp_frontend.tool_groups import DEFAULT_GROUPS, groups_named


class FrontendSettings(BaseSettings):
    """What the frontend reads: the tools it serves, the sandbox, defaults for jobs, wait limits and HTTP
    auth."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    sandbox_root: Path = Field(
        Path.home(),
        validation_alias="SANDBOX_ROOT",
        description="Every repo must resolve inside this folder.",
    )
    permission_mode: str = Field(
        "acceptEdits",
        validation_alias="CLAUDE_PERMISSION_MODE",
        description="Default permission mode for jobs.",
    )
    include_diff_default: bool = Field(
        False, validation_alias="INCLUDE_DIFF_DEFAULT", description="Default of include_diff."
    )
    wait_default_ms: int = Field(
        30_000, validation_alias="WAIT_DEFAULT_MS", description="wait's timeout when none is given."
    )
    wait_max_ms: int = Field(
        110_000,
        validation_alias="WAIT_MAX_MS",
        description="Longest wait; keep below Codex's tool_timeout_sec.",
    )
    http_token: SecretStr | None = Field(
        None,
        validation_alias="FARM_MCP_TOKEN",
        description="Bearer token the streamable HTTP transport requires.",
    )
    prompt_max_chars: int = Field(
        200_000, validation_alias="FARM_PROMPT_MAX_CHARS", description="Longest prompt accepted."
    )
    fanout_max: int = Field(
        32,
        ge=1,
        validation_alias="FARM_FANOUT_MAX",
        description="Most jobs one start (jobs or matrix) or one wait (job_ids) takes.",
    )
    lite_model: str = Field(
        "claude-haiku-4-5",
        validation_alias="FARM_LITE_MODEL",
        description="Model of analyze, review and draft (mapped by the adapter).",
    )
    lite_cache_dir: Path = Field(
        Path.home() / ".cache" / "codex-farm" / "lite",
        validation_alias="WORKER_LITE_CACHE_DIR",
        description="Cache of analyze answers.",
    )
    lite_cache_ttl_s: int = Field(
        86400,
        ge=0,
        validation_alias="WORKER_LITE_CACHE_TTL_S",
        description="How long a cached analyze answer is served; 0: no cache.",
    )
    tools: Annotated[frozenset[str], NoDecode] = Field(
        DEFAULT_GROUPS,
        validation_alias="FARM_TOOLS",
        description="Tool groups served, comma-separated (core, read, edit, review), or all.",
    )

    @field_validator("tools", mode="before")
    @classmethod
    def _parse_tools(cls, value: str | Iterable[str]) -> frozenset[str]:
        return groups_named(value.split(",") if isinstance(value, str) else value)
