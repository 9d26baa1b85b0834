"""The worker's settings: the farm's shared ones (farm_core/settings.py) and those only a worker reads
(its cache, Claude Code, check output, metrics, the sandbox)."""

import functools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from farm_core.settings import FarmSettings

# Paths a sandboxed job must not read: the farm's env files and the worker user's credentials.
DEFAULT_SANDBOX_HIDE = (
    "/etc/codex-farm,~/.config,~/.ssh,~/.gnupg,~/.aws,~/.azure,~/.kube,~/.docker,"
    "~/.netrc,~/.git-credentials,~/.pypirc,~/.npmrc,~/.claude,~/.claude.json"
)


class WorkerSettings(FarmSettings):
    """Every setting a worker reads, read once from the environment: the shared ones and its own."""

    patch_max_bytes: int = Field(
        8 << 20, validation_alias="FARM_PATCH_MAX_BYTES", description="Largest result patch stored in Redis."
    )
    heartbeat_s: float = Field(
        2.0, validation_alias="FARM_HEARTBEAT_S", description="Worker heartbeat period for a running job."
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "codex-farm",
        validation_alias="WORKER_CACHE_DIR",
        description="Mirror caches and worktrees.",
    )
    claude_cli_path: Path | None = Field(
        None, validation_alias="CLAUDE_CLI_PATH", description="Claude Code CLI; default: bundled."
    )
    claude_code_model: str | None = Field(
        None, validation_alias="CLAUDE_CODE_MODEL", description="Model name Claude Code asks the adapter for."
    )
    escalate_model: str | None = Field(
        None,
        validation_alias="WORKER_ESCALATE_MODEL",
        description="Model the last auto_revise pass asks for; unset: the job's model.",
    )
    cache_max_gb: float = Field(
        20.0,
        gt=0,
        validation_alias="WORKER_CACHE_MAX_GB",
        description="Mirror cache size; least recently used repos go first.",
    )
    keep_failed_worktrees: bool = Field(
        False, validation_alias="WORKER_KEEP_FAILED", description="Keep worktrees of failed jobs."
    )
    check_output_max_bytes: int = Field(
        65536, validation_alias="WORKER_CHECK_OUTPUT_MAX_BYTES", description="Output kept per check command."
    )
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        validation_alias="WORKER_METRICS_PORT",
        description="Port of the worker's Prometheus metrics; 0: off.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        validation_alias="WORKER_METRICS_HOST",
        description="Address the worker's metrics port binds to.",
    )

    # The sandbox (tasks/sandbox.py, tasks/cache_registry.py)
    sandbox: Literal["none", "bwrap"] = Field(
        "none",
        validation_alias="WORKER_SANDBOX",
        description="Run each job's agent and checks in a bubblewrap sandbox: none or bwrap.",
    )
    sandbox_required: bool = Field(
        False,
        validation_alias="WORKER_SANDBOX_REQUIRED",
        description="Refuse to start, and to run jobs, when bwrap is unusable.",
    )
    sandbox_hide: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: _split_paths(DEFAULT_SANDBOX_HIDE),
        validation_alias="WORKER_SANDBOX_HIDE",
        description="Comma-separated paths hidden inside the sandbox (~ is the worker user's home).",
    )
    cache_registry: Path = Field(
        Path("/var/tmp/codex-farm-caches"),
        validation_alias="WORKER_CACHE_REGISTRY",
        description=(
            "Folder where every worker of the host records its cache dir; the sandbox hides all of them."
        ),
    )

    @field_validator("sandbox_hide", mode="before")
    @classmethod
    def _parse_sandbox_hide(cls, value: object) -> object:
        return _split_paths(value) if isinstance(value, str) else value


@functools.cache
def worker_settings() -> WorkerSettings:
    """The settings of this worker process, read once."""
    return WorkerSettings()


def _split_paths(text: str) -> list[Path]:
    return [Path(part.strip()).expanduser() for part in text.split(",") if part.strip()]
