"""The job schema shared by the frontend and the workers: payload, record, compact result."""

import re
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from farm_core.shell_digest import ShellDigest

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")
CHECK_NAME = re.compile(r"^[\w .:/-]{1,64}$")
# A Celery queue name a job may ask for (the same shape `codex-farm doctor` accepts in FARM_QUEUE).
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# The one check of a shell job: its command.
SHELL_CHECK = "shell"
# The name of the scope's check, which the pipeline reports first in `checks` when a job has a scoped_patch.
SCOPE_CHECK = "scoped_patch"

Verdict = Literal["accept", "repair", "fail"]
VERDICT_RULE = (
    "accept: completed, and every check and the scoped_patch scope passed; repair: "
    "completed, but a check or the scope failed or timed out; fail: did not complete "
    "(failed, cancelled, timed_out, lost); left out while queued or running."
)


class JobStatus(StrEnum):
    """Lifecycle of a job; the last four are terminal."""

    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    timed_out = "timed_out"
    lost = "lost"

    @property
    def terminal(self) -> bool:
        return self not in (JobStatus.queued, JobStatus.running)


def verdict_of(status: JobStatus, checks_passed: bool = True) -> Verdict | None:
    """The one-word reading of a job (VERDICT_RULE); `checks_passed` is true when there were no checks."""
    if not status.terminal:
        return None
    if status != JobStatus.completed:
        return "fail"
    return "accept" if checks_passed else "repair"


class CheckSpec(BaseModel):
    """A command run in the worktree after the agent; its verdict is reported."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name shown in results, e.g. 'tests'.")
    command: str = Field(
        min_length=1, max_length=4096, description="Shell command run with bash in the worktree."
    )
    timeout_ms: int = Field(
        600_000, ge=1000, le=3 * 3600 * 1000, description="Kill the check after this long."
    )

    @field_validator("name")
    @classmethod
    def _name_shape(cls, name: str) -> str:
        if not CHECK_NAME.fullmatch(name):
            raise ValueError("check name: 1-64 letters, digits, spaces or . : / - _")
        return name


class ScopedPatch(BaseModel):
    """Limits where the agent may write, and how big its diff may be."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(
        min_length=1, max_length=200, description="Repo-relative files or folders the agent may change."
    )
    max_diff_bytes: int | None = Field(
        None, ge=1, description="Fail the scope check past this many diff bytes."
    )

    @field_validator("paths")
    @classmethod
    def _relative_inside(cls, paths: list[str]) -> list[str]:
        cleaned = []
        for raw in paths:
            path = PurePosixPath(raw.strip())
            if not raw.strip() or path.is_absolute() or ".." in path.parts:
                raise ValueError(f"scoped path {raw!r} must be relative and stay inside the repo")
            cleaned.append(str(path))
        return cleaned


class RepoSource(BaseModel):
    """Where a worker gets the snapshot commit from (see docs/architecture.md, "Transports")."""

    transport: Literal["path", "bundle", "remote"] = Field(
        "path",
        description="path: fetch from `location` (same host or shared filesystem); bundle: fetch origin, "
        "then the job's bundle from Redis; remote: fetch `snapshot_ref` from `remote_url`.",
    )
    location: str = Field(
        description="The repo's path on the caller's machine (fetched from when transport=path)."
    )
    origin_host: str = Field(description="Host name of the machine that took the snapshot.")
    origin_url: str | None = Field(
        None, description="The repo's `origin` URL as the caller's config has it, credentials removed."
    )
    repo_id: str | None = Field(
        None, description="A root commit of the snapshot: names the worker's mirror when there is no origin."
    )
    bundle_key: str | None = Field(
        None, description="Redis key of the bundle (transport=bundle); None when origin has it all."
    )
    bundle_bytes: int = Field(0, ge=0, description="Size of that bundle.")
    remote_url: str | None = Field(
        None, description="Git remote holding `snapshot_ref` (transport=remote), credentials removed."
    )
    snapshot_ref: str | None = Field(
        None, description="The ref naming the snapshot in a bundle or on the remote."
    )


class JobSpec(BaseModel):
    """The Celery payload: everything a worker needs, re-validated by the worker itself."""

    job_id: str
    prompt: str
    source: RepoSource
    snapshot_commit: str
    base: str = "worktree"
    model: str | None = None
    permission_mode: str = "acceptEdits"
    include_diff: bool = False
    scoped_patch: ScopedPatch | None = None
    checks: list[CheckSpec] = Field(default_factory=list)
    queue: str = "default"
    timeout_ms: int
    max_turns: int | None = None
    # Extra agent passes, in the same session, while checks fail (see tasks/revise.py).
    auto_revise: int = Field(0, ge=0, le=3)
    created_at: float
    # Applied by the frontend (where the caller's repo is), never by the worker.
    apply: Literal["never", "on_success"] = "never"
    # "shell": no agent and no model call; the job's one check (named SHELL_CHECK) is the command
    # (tasks/shell_run.py).
    kind: Literal["agent", "shell"] = "agent"

    @model_validator(mode="after")
    def _shell_shape(self) -> "JobSpec":
        if self.kind == "shell" and ([c.name for c in self.checks] != [SHELL_CHECK] or self.auto_revise):
            raise ValueError(f"a shell job has exactly one check, named {SHELL_CHECK!r}, and no auto_revise")
        return self


class Usage(BaseModel):
    """Gateway tokens a job used."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


class PassRecord(BaseModel):
    """One agent pass of a job: its number (1 = the first run), the model it asked for and its check
    verdicts."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    pass_: int = Field(alias="pass", ge=1)
    model: str | None = None
    checks: list[str] = Field(default_factory=list)


class CompactResult(BaseModel):
    """What the caller sees by default: small, verified evidence."""

    job_id: str
    job_status: JobStatus
    # Given by the worker for a completed agent job (from its checks' outcomes); else derived from the status
    # and shell digest.
    verdict: Verdict | None = Field(None, exclude_if=lambda value: value is None, description=VERDICT_RULE)
    changed_files: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)
    diff: str = ""
    usage: Usage = Field(default_factory=Usage)
    elapsed_ms: int = 0
    error: str | None = None
    # Every agent pass, only for jobs started with auto_revise (left out of the output otherwise).
    passes: list[PassRecord] | None = Field(None, exclude_if=lambda value: value is None)
    # The command's digest, only for shell jobs.
    shell: ShellDigest | None = Field(None, exclude_if=lambda value: value is None)

    @model_validator(mode="after")
    def _verdict_follows_status(self) -> "CompactResult":
        """The verdict the status implies, unless the worker gave a completed job's."""
        # job_status is None only in the envelope of a multi-job wait (mcp_frontend.views.WaitResult).
        if self.job_status is not None and (self.job_status != JobStatus.completed or self.verdict is None):
            self.verdict = verdict_of(self.job_status, self._stored_checks_passed())
        return self

    def _stored_checks_passed(self) -> bool:
        """A shell job's command passed, by its digest; else (a record from before verdicts) every verdict
        string says passed."""
        if self.shell is not None:
            return self.shell.status == "passed"
        return all(
            check.endswith(": passed") or check.startswith(f"{SCOPE_CHECK}: passed (")
            for check in self.checks
        )


class JobRecord(BaseModel):
    """The Redis job hash, the source of truth for a job's state."""

    job_id: str
    status: JobStatus
    queue: str
    worker: str = ""
    attempts: int = 0
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None
    error: str | None = None
    result_commit: str | None = None
    # sha256 (hex) of the result patch, written by the worker in the same step as the patch itself.
    patch_sha256: str | None = None
    # With FARM_SIGNING_*: the worker's signature over the result (farm_core/result_signature.py) and its
    # certificate's id.
    result_signature: str | None = None
    result_signer: str | None = None
    summary: str = ""
    spec: JobSpec | None = None
    result: CompactResult | None = None

    @property
    def verdict(self) -> Verdict | None:
        """The job's verdict as its record stands: its result's once it has one, else what its status
        implies."""
        return self.result.verdict if self.result is not None else verdict_of(self.status)
