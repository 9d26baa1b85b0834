"""One job payload from the queue to a terminal status: validated, claimed, checked against this worker's
rules, then run as an agent job (tasks/pipeline.py) or a shell job (tasks/shell_run.py)."""

from pydantic import ValidationError

from farm_core.job_models import CompactResult, JobSpec, JobStatus
from tasks import worker_metrics
from tasks.pipeline import JobRun, WorkerContext
from tasks.shell_run import ShellRun
from tasks.worker_rules import JobRejected, check_worker_rules


def execute_job(payload: dict, ctx: WorkerContext) -> str:
    """Run one job payload to a terminal status; returns that status."""
    try:
        spec = JobSpec.model_validate(payload)
    except ValidationError as exc:
        return _reject_malformed(payload, ctx, exc)
    claim = ctx.store.claim(spec.job_id, ctx.name)
    if claim != "claimed":
        return claim  # cancelled while queued, finished, or running elsewhere under a lease
    try:
        check_worker_rules(spec, ctx.settings)
    except JobRejected as exc:
        error = f"rejected by worker: {exc}"
        result = CompactResult(job_id=spec.job_id, job_status=JobStatus.failed, error=error)
        if ctx.store.finish(spec.job_id, JobStatus.failed, result, worker=ctx.name, error=error):
            worker_metrics.job_finished(ctx.settings, spec.queue, JobStatus.failed.value, 0.0)
        return JobStatus.failed.value
    run = ShellRun if spec.kind == "shell" else JobRun
    return run(spec, ctx).run().value


def _reject_malformed(payload: object, ctx: WorkerContext, exc: ValidationError) -> str:
    """A payload that is not a JobSpec fails its job (when it names one) instead of vanishing."""
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if isinstance(job_id, str) and ctx.store.get(job_id) is not None:
        error = f"malformed job payload: {exc.errors()[0]['msg']}"
        ctx.store.finish(
            job_id,
            JobStatus.failed,
            CompactResult(job_id=job_id, job_status=JobStatus.failed, error=error),
            error=error,
        )
    return JobStatus.failed.value
