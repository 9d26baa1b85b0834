"""What the tools return: small, typed, structured results."""

from typing import Any, Literal

from pydantic import BaseModel, Field, model_serializer

from farm_core.job_models import VERDICT_RULE, CompactResult, JobStatus, Verdict

# What a wait over several jobs (job_ids) waits for: any of them to end, or all.
WaitMode = Literal["any", "all"]


class StartedJob(BaseModel):
    """One job of a fan-out, accepted and queued."""

    job_id: str
    job_status: JobStatus
    queue: str


def _left_out_when_none(value: Any) -> bool:
    return value is None


class StartResult(BaseModel):
    """A job was accepted and queued: `{job_id, job_status, queue}`; a fan-out (jobs or matrix) gives only
    `jobs`."""

    job_id: str | None = Field(None, exclude_if=_left_out_when_none)
    job_status: JobStatus | None = Field(None, exclude_if=_left_out_when_none)
    queue: str | None = Field(None, exclude_if=_left_out_when_none)
    jobs: list[StartedJob] | None = Field(
        None,
        exclude_if=_left_out_when_none,
        description="Fan-out only: one entry per job, in the order asked.",
    )


class ApplyResult(BaseModel):
    """What `apply` did (or, in check mode, would do) to the caller's working tree."""

    job_id: str
    applied: bool = Field(description="True when the patch landed in the working tree without conflicts.")
    mode: Literal["3way", "check"] = "3way"
    files: list[str] = Field(
        default_factory=list, description="Paths the patch touched (check: would touch)."
    )
    conflicts: list[str] = Field(
        default_factory=list, description="Paths whose local edits clash with the patch (check: would clash)."
    )
    message: str = ""


class JobView(CompactResult):
    """The compact result, or the live status while the job runs; `record` only with verbose."""

    queue: str = ""
    worker: str = ""
    record: dict[str, Any] | None = Field(None, description="The full job record (verbose only).")
    apply_result: ApplyResult | None = Field(
        None, description="The latest apply of this job, automatic or not."
    )

    @model_serializer(mode="wrap")
    def _without_empty_extras(self, handler):
        """Every byte reaches Codex's context: leave out fields that say nothing."""
        data = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class PendingJob(BaseModel):
    """A job of a multi-job wait that has not ended yet."""

    job_id: str
    job_status: JobStatus


class WaitResult(JobView):
    """What wait returns: one job's JobView; with job_ids, only `{mode, done, jobs}`."""

    job_id: str | None = None
    job_status: JobStatus | None = None
    mode: WaitMode | None = Field(None, description="job_ids only: the condition waited for.")
    done: bool | None = Field(
        None, description="job_ids only: whether the condition held (false: the timeout passed)."
    )
    jobs: list[JobView | PendingJob] | None = Field(
        None,
        description="job_ids only, in the order given: the compact result of each ended job, {job_id, "
        "job_status} of the others.",
    )

    @classmethod
    def of(cls, view: JobView) -> "WaitResult":
        """The single-job result, serialized exactly as the view."""
        return cls(**{name: getattr(view, name) for name in type(view).model_fields})

    @model_serializer(mode="wrap")
    def _one_or_many(self, handler):
        data = handler(self)
        if self.jobs is not None:
            return {"mode": data["mode"], "done": data["done"], "jobs": data["jobs"]}
        return {key: value for key, value in data.items() if value is not None}


class TailResult(BaseModel):
    """Redacted log lines and the cursor to pass next time."""

    job_id: str
    job_status: JobStatus
    lines: list[str]
    cursor: str | None = Field(None, description="Pass as `cursor` to read only newer lines.")


class CancelResult(BaseModel):
    """The cancel request was recorded; the status says where the job stands now."""

    job_id: str
    job_status: JobStatus
    cancel_requested: bool = True


class JobRow(BaseModel):
    """One line of list_jobs."""

    job_id: str
    job_status: JobStatus
    verdict: Verdict | None = Field(None, exclude_if=_left_out_when_none, description=VERDICT_RULE)
    queue: str
    created_at: float
    changed_files: int = 0
    elapsed_ms: int = 0
    kind: Literal["shell"] | None = Field(
        None, exclude_if=_left_out_when_none, description="Only for shell jobs."
    )
    shell_status: str | None = Field(
        None,
        exclude_if=_left_out_when_none,
        description="Shell jobs: passed, failed, timed_out or cancelled.",
    )
    failure_kind: str | None = Field(
        None, exclude_if=_left_out_when_none, description="Shell jobs: why the command failed."
    )


class JobList(BaseModel):
    jobs: list[JobRow]
