"""What the tools return: small, typed, structured results."""

from typing import Any

from pydantic import BaseModel, Field

from tasks.job_models import CompactResult, JobStatus


class StartResult(BaseModel):
    """A job was accepted and queued."""

    job_id: str
    job_status: JobStatus
    queue: str


class JobView(CompactResult):
    """The compact result, or the live status while the job runs; `record` only with verbose."""

    queue: str = ""
    worker: str = ""
    record: dict[str, Any] | None = Field(None, description="The full job record (verbose only).")


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
