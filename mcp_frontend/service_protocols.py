"""What each tool module needs of the frontend's service (FarmService), as Protocols: a module's code depends
on that much and no more, and a test's stand-in needs only that much."""

from pathlib import Path
from typing import Any, Protocol

from farm_core.job_models import JobRecord, JobSpec, JobStatus
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from mcp_frontend.apply import ApplyMode
from mcp_frontend.progress import ProgressFn
from mcp_frontend.settings import FrontendSettings
from mcp_frontend.start_args import StartArgs, StartRequest
from mcp_frontend.views import (
    ApplyResult,
    CancelResult,
    JobList,
    JobView,
    StartResult,
    TailResult,
    WaitMode,
    WaitResult,
)


class JobsService(Protocol):
    """The job tools': start, get, tail, wait, cancel, list_jobs and apply."""

    async def start(self, args: StartArgs) -> StartResult: ...

    async def start_fanout(self, request: StartRequest) -> StartResult: ...

    def get(self, job_id: str, verbose: bool = False, include_diff: bool = False) -> JobView: ...

    def tail(self, job_id: str, lines: int, cursor: str | None) -> TailResult: ...

    async def wait(
        self, job_id: str, timeout_ms: int | None, progress: ProgressFn | None = None
    ) -> JobView: ...

    async def wait_many(
        self, job_ids: list[str], mode: WaitMode, timeout_ms: int | None, progress: ProgressFn | None = None
    ) -> WaitResult: ...

    def cancel(self, job_id: str) -> CancelResult: ...

    def list_jobs(self, status: JobStatus | None, limit: int) -> JobList: ...

    async def apply(self, job_id: str, mode: ApplyMode, force: bool) -> ApplyResult: ...


class ShellService(Protocol):
    """The shell tool's: the limits, enqueueing a prepared job, waiting for it, and its redacted log."""

    frontend: FrontendSettings
    farm: FarmSettings
    store: JobStore

    def redact(self, text: str) -> str: ...

    async def launch(self, repo_path: Path, base: str, fields: dict[str, Any]) -> JobSpec: ...

    async def wait(
        self, job_id: str, timeout_ms: int | None, progress: ProgressFn | None = None
    ) -> JobView: ...


class CheapService(Protocol):
    """The cheap tools' (analyze, review, draft, get_artifact_slice): settings, a job's record and stored
    artifacts, and the redactor their answers go through."""

    frontend: FrontendSettings
    farm: FarmSettings
    store: JobStore

    def redact(self, text: str) -> str: ...

    def record(self, job_id: str) -> JobRecord: ...


class ReadonlyService(Protocol):
    """The no-model tools': SANDBOX_ROOT, and a finished job's record and stored patch (diff_digest)."""

    frontend: FrontendSettings
    store: JobStore

    def record(self, job_id: str) -> JobRecord: ...


class FrontendService(JobsService, ShellService, CheapService, ReadonlyService, Protocol):
    """Everything the tools need: what build_server wires them to (FarmService in production)."""
