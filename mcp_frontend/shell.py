"""shell: run one command on the farm in a fresh worktree of a snapshot of repo (no agent, no model call),
wait for it, and return a digest of its output instead of the output."""

import time
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_serializer

from farm_core.job_models import SHELL_CHECK, CheckSpec, JobStatus
from farm_core.shell_digest import LINES_MAX_BYTES, FailureKind, ShellStatus, last_lines
from mcp_frontend.errors import InvalidArgument
from mcp_frontend.job_rules import job_queue, job_timeout
from mcp_frontend.progress import ProgressFn
from mcp_frontend.repo_paths import resolve_repo
from mcp_frontend.service_protocols import ShellService
from mcp_frontend.views import JobView

DEFAULT_TIMEOUT_MS = 600_000
# The job's own deadline leaves the command this much more for fetching the snapshot and making the worktree,
# so the command's timeout (not the job's) is what stops a slow command.
SETUP_MARGIN_MS = 120_000
TAIL_MAX_LINES = 40
# Entries after the command's output in its log: its verdict and the job's last status lines.
_LOG_LINES_AFTER_OUTPUT = 20


class ShellResult(BaseModel):
    """The shell tool's answer: the job, and once the command ended, its digest (or the tail of its
    output)."""

    job_id: str
    job_status: JobStatus = Field(
        description="The job: running (still going at WAIT_MAX_MS), completed, timed_out, cancelled, failed, "
        "lost."
    )
    status: ShellStatus | None = Field(
        None, description="How the command ended: passed, failed, timed_out or cancelled."
    )
    exit_code: int | None = Field(None, description="Null when the command was killed (timeout, cancel).")
    failure_kind: FailureKind | None = None
    summary_line: str | None = Field(None, description="The tool's own summary line, e.g. pytest's.")
    decisive_lines: list[str] | None = Field(
        None, description="digest=true: failure-looking lines and the last lines, bounded."
    )
    tail: list[str] | None = Field(None, description="digest=false: the last lines of the output, bounded.")
    output_bytes: int | None = None
    elapsed_ms: int | None = Field(None, description="How long the command ran.")
    error: str | None = Field(
        None, description="Why the job could not run the command (e.g. the snapshot could not be fetched)."
    )

    @model_serializer(mode="wrap")
    def _compact(self, handler):
        """Fields that say nothing are left out; exit_code stays (as null) once the command has ended."""
        data = handler(self)
        return {
            k: v for k, v in data.items() if v is not None or (k == "exit_code" and self.status is not None)
        }


def shell_fields(service: ShellService, command: str, timeout_ms: int, queue: str | None) -> dict[str, Any]:
    """The JobSpec fields of a shell job, checked (no git, no Redis); InvalidArgument on bad input."""
    if not command.strip():
        raise InvalidArgument("command is empty")
    job_timeout(timeout_ms, service.farm)
    queue = job_queue(queue, service.farm)
    if service.redact(command) != command:
        # The command is stored with the job and run as given, so it cannot be redacted like output is.
        raise InvalidArgument(
            "command contains a secret (a key, token or password the farm would have to store)",
            hint="keep credentials out of the command: let it read them from a file or the worker's "
            "environment",
        )
    try:
        check = CheckSpec(name=SHELL_CHECK, command=command, timeout_ms=timeout_ms)
    except ValidationError as exc:  # e.g. a command longer than a check's
        first = exc.errors()[0]
        raise InvalidArgument(f"{first['loc'][0]}: {first['msg']}") from None
    return dict(
        kind="shell",
        prompt="",
        checks=[check],
        queue=queue,
        timeout_ms=min(timeout_ms + SETUP_MARGIN_MS, service.farm.max_timeout_ms),
    )


async def run_shell(
    service: ShellService,
    command: str,
    repo: str,
    timeout_ms: int,
    digest: bool,
    queue: str | None,
    base: str,
    progress: ProgressFn | None = None,
) -> ShellResult:
    """Validate, snapshot and enqueue the command as a shell job, then wait (at most WAIT_MAX_MS in all)
    for its digest."""
    began = time.monotonic()
    fields = shell_fields(service, command, timeout_ms, queue)
    repo_path = resolve_repo(repo, service.frontend.sandbox_root)
    spec = await service.launch(repo_path, base, fields)
    left_ms = max(service.frontend.wait_max_ms - int((time.monotonic() - began) * 1000), 0)
    view = await service.wait(spec.job_id, left_ms, progress=progress)
    return shell_result(
        view, output_tail(service, spec.job_id) if not digest and view.job_status.terminal else None
    )


def shell_result(view: JobView, tail: list[str] | None = None) -> ShellResult:
    """The tool's answer from the job's view; `tail` (digest=false) replaces the decisive lines."""
    result = ShellResult(job_id=view.job_id, job_status=view.job_status, error=view.error)
    digest = view.shell
    if digest is None or not view.job_status.terminal:
        return result
    fields = digest.model_dump(exclude={"decisive_lines"})
    return result.model_copy(
        update={**fields, "decisive_lines": None if tail is not None else digest.decisive_lines, "tail": tail}
    )


def output_tail(service: ShellService, job_id: str) -> list[str]:
    """The last lines the command wrote, from the job's log (every line, not only the capped output),
    bounded."""
    entries = service.store.read_log(job_id, None, TAIL_MAX_LINES + _LOG_LINES_AFTER_OUTPUT)
    lines = [service.redact(entry.text) for entry in entries if entry.kind == "check"]
    return last_lines(lines, TAIL_MAX_LINES, LINES_MAX_BYTES)
