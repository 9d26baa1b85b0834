"""A worker re-validates every job itself instead of trusting whoever could enqueue it."""

from farm_core.errors import FarmError
from farm_core.job_models import PERMISSION_MODES, JobSpec
from tasks.settings import WorkerSettings


class JobRejected(FarmError):
    """The job breaks a rule this worker enforces."""

    code = "job_rejected"
    hint = "start the job within this worker's limits (FARM_MAX_TIMEOUT_MS, ALLOW_BYPASS_PERMISSIONS)"


def check_worker_rules(spec: JobSpec, settings: WorkerSettings) -> None:
    """Raise JobRejected when this worker must not run the job."""
    if spec.permission_mode not in PERMISSION_MODES:
        raise JobRejected(f"unknown permission mode {spec.permission_mode!r}")
    if spec.permission_mode == "bypassPermissions" and not settings.allow_bypass_permissions:
        raise JobRejected("bypassPermissions is not allowed on this worker (ALLOW_BYPASS_PERMISSIONS)")
    if spec.timeout_ms > settings.max_timeout_ms:
        raise JobRejected(f"timeout_ms {spec.timeout_ms} exceeds this worker's FARM_MAX_TIMEOUT_MS")
    if not spec.snapshot_commit or len(spec.snapshot_commit) not in (40, 64):
        raise JobRejected("snapshot_commit must be a full commit id")
