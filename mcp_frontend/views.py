"""What the tools return: small, typed, structured results."""

from typing import Any, Literal

from pydantic import BaseModel, Field, model_serializer

from tasks.job_models import CompactResult, JobStatus


class StartResult(BaseModel):
    """A job was accepted and queued."""

    job_id: str
    job_status: JobStatus
    queue: str


class ApplyResult(BaseModel):
    """What `apply` did (or, in check mode, would do) to the caller's working tree."""

    job_id: str
    applied: bool = Field(description="True when the patch landed in the working tree without conflicts.")
    mode: Literal["3way", "check"] = "3way"
    files: list[str] = Field(default_factory=list, description="Paths the patch touched (check: would touch).")
    conflicts: list[str] = Field(default_factory=list, description="Paths whose local edits clash with the patch (check: would clash).")
    message: str = ""


class JobView(CompactResult):
    """The compact result, or the live status while the job runs; `record` only with verbose."""

    queue: str = ""
    worker: str = ""
    record: dict[str, Any] | None = Field(None, description="The full job record (verbose only).")
    apply_result: ApplyResult | None = Field(None, description="The latest apply of this job, automatic or not.")

    @model_serializer(mode="wrap")
    def _without_empty_extras(self, handler):
        """Every byte reaches Codex's context: leave out fields that say nothing."""
        data = handler(self)
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
    queue: str
    created_at: float
    changed_files: int = 0
    elapsed_ms: int = 0


class JobList(BaseModel):
    jobs: list[JobRow]
