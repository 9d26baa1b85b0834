"""The farm's shared settings, which the frontend, the command and the workers read alike: Redis, queues,
limits, the adapter, signing, and the transport the frontend picks for the workers. What only a worker
reads is in `WorkerSettings` (tasks/settings.py), which extends these."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FarmSettings(BaseSettings):
    """Farm-wide settings, read once from the environment."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias="REDIS_URL",
        description="Broker, result backend and job records.",
    )
    key_prefix: str = Field(
        "farm:", validation_alias="FARM_KEY_PREFIX", description="Prefix of every farm Redis key."
    )
    default_queue: str = Field(
        "default", validation_alias="FARM_QUEUE", description="Queue(s) a worker consumes; comma-separated."
    )
    job_ttl_s: int = Field(
        7 * 86400,
        validation_alias="FARM_JOB_TTL_S",
        description="How long job records, logs and patches live.",
    )
    log_max_entries: int = Field(
        5000, validation_alias="FARM_LOG_MAX_ENTRIES", description="Cap on a job's log stream length."
    )
    visibility_timeout_s: int = Field(
        4 * 3600,
        validation_alias="FARM_VISIBILITY_TIMEOUT_S",
        description="Redelivery delay for unacked jobs; above the longest job.",
    )
    max_attempts: int = Field(
        2, ge=1, validation_alias="FARM_MAX_ATTEMPTS", description="Runs of a job before it ends lost."
    )
    lease_s: float = Field(
        15.0,
        gt=0,
        validation_alias="FARM_LEASE_S",
        description="Lease of a running job; the heartbeat renews it.",
    )
    lost_grace_s: float = Field(
        30.0,
        gt=0,
        validation_alias="FARM_LOST_GRACE_S",
        description="Silence after which a running job is requeued or lost.",
    )
    reconcile_s: float = Field(
        5.0, gt=0, validation_alias="FARM_RECONCILE_S", description="How often workers look for silent jobs."
    )
    diff_max_bytes: int = Field(
        20000,
        validation_alias="DIFF_MAX_BYTES",
        description="Diff returned to the caller is trimmed to this.",
    )
    max_timeout_ms: int = Field(
        3 * 3600 * 1000, validation_alias="FARM_MAX_TIMEOUT_MS", description="Longest job timeout accepted."
    )
    default_timeout_ms: int = Field(
        30 * 60 * 1000,
        validation_alias="FARM_DEFAULT_TIMEOUT_MS",
        description="Job timeout when start gives none.",
    )

    # How workers get the snapshot (read by the frontend; see docs/architecture.md, "Transports")
    transport: Literal["auto", "path", "bundle", "remote"] = Field(
        "auto",
        validation_alias="FARM_TRANSPORT",
        description="How workers get the snapshot: auto, path, bundle or remote.",
    )
    shared_fs: bool | None = Field(
        None,
        validation_alias="FARM_SHARED_FS",
        description="Workers can read the caller's repo path; unset: inferred from REDIS_URL.",
    )
    bundle_max_bytes: int = Field(
        50 << 20,
        ge=1,
        validation_alias="FARM_BUNDLE_MAX_BYTES",
        description="Largest snapshot bundle start puts in Redis.",
    )
    git_remote: str | None = Field(
        None,
        validation_alias="FARM_GIT_REMOTE",
        description="Git remote (URL or remote name) snapshots are pushed to.",
    )

    # The adapter: workers' Claude Code and the frontend's analyze, review and draft call it
    adapter_url: str = Field(
        "http://127.0.0.1:8788", validation_alias="ADAPTER_URL", description="Adapter Claude Code talks to."
    )
    adapter_token: SecretStr | None = Field(
        None,
        validation_alias="ADAPTER_TOKEN",
        description="One of the adapter's ADAPTER_TOKENS; signs per-job tokens.",
    )
    # Checked on both sides: the frontend refuses such a job at start, a worker refuses to run one.
    allow_bypass_permissions: bool = Field(
        False,
        validation_alias="ALLOW_BYPASS_PERMISSIONS",
        description="Allow jobs to run with bypassPermissions.",
    )

    # Message signing (farm_core/signing.py): on when the three files are set, on every frontend and worker
    # alike.
    signing_key_file: Path | None = Field(
        None,
        validation_alias="FARM_SIGNING_KEY_FILE",
        description="PEM RSA private key this process signs task messages with.",
    )
    signing_cert_file: Path | None = Field(
        None,
        validation_alias="FARM_SIGNING_CERT_FILE",
        description="PEM certificate of FARM_SIGNING_KEY_FILE, named in each signed message.",
    )
    signing_cert_store: str | None = Field(
        None,
        validation_alias="FARM_SIGNING_CERT_STORE",
        description="Folder (or glob) of PEM certificates whose signed messages are run.",
    )
    signing_digest: str = Field(
        "sha256", validation_alias="FARM_SIGNING_DIGEST", description="Digest of message signatures."
    )
