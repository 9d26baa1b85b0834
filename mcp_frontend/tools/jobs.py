"""The job tools: start, get, tail, wait, cancel, list_jobs and apply."""

from functools import partial
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from farm_core.job_models import JobStatus
from mcp_frontend.apply import ApplyMode
from mcp_frontend.errors import InvalidArgument
from mcp_frontend.progress import progress_reporter
from mcp_frontend.service_protocols import JobsService
from mcp_frontend.start_args import StartRequest
from mcp_frontend.tools.model_arguments import arguments_from
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

START_DESCRIPTION = (
    "Queue a coding job on the farm and return its job_id at once; with jobs (or matrix), queue several "
    "and return {jobs: [{job_id, job_status, queue}, ...]}."
)
WAIT_DESCRIPTION = (
    "Block until the job ends or timeout_ms passes (then job_status is still running); "
    "never stops the job. With a progress token, each tool call, check and status line of "
    "the job is sent as a progress notification. With job_ids instead of job_id: return "
    "as soon as any (mode 'any') or all (mode 'all') of them have ended, as {mode, done, "
    "jobs}: the compact result of each ended job, {job_id, job_status} of the others."
)
APPLY_DESCRIPTION = (
    "Bring a finished job's patch into the repo it was started from, as unstaged changes: never commits, "
    "never moves HEAD or a branch, never writes the index or the stash. mode '3way' merges with your local "
    "edits like `git apply --3way`: clashing files get conflict markers and are listed in conflicts, while "
    "the patch's other files are still applied; if git refuses the patch outright nothing changes. mode "
    "'check' is a dry run. A job applies once; force applies it again."
)
JOB_ID = "Id returned by start."


def register(server: MCPServer, service: JobsService) -> None:
    """Add the job tools to the server."""

    @server.tool(description=START_DESCRIPTION)
    @arguments_from(StartRequest)
    async def start(request: StartRequest) -> StartResult:
        if request.fans_out():
            return await service.start_fanout(request)
        if request.prompt is None:
            raise InvalidArgument("prompt: Field required")
        return await service.start(request)

    @server.tool(
        description="Status and compact result of a job; include_diff adds the diff, verbose the full record."
    )
    async def get(
        job_id: Annotated[str, Field(description=JOB_ID)],
        verbose: Annotated[bool, Field(description="Include the full job record.")] = False,
        include_diff: Annotated[
            bool, Field(description="Include the result diff, trimmed to DIFF_MAX_BYTES.")
        ] = False,
    ) -> JobView:
        # it may apply (git)
        return await anyio.to_thread.run_sync(partial(service.get, job_id, verbose, include_diff))

    @server.tool(description="Recent redacted log lines of a job, with a cursor to continue from.")
    async def tail(
        job_id: Annotated[str, Field(description=JOB_ID)],
        lines: Annotated[int, Field(description="How many lines (1-1000).")] = 50,
        cursor: Annotated[
            str | None, Field(description="Cursor from the previous tail: only newer lines.")
        ] = None,
    ) -> TailResult:
        return service.tail(job_id, lines, cursor)

    @server.tool(description=WAIT_DESCRIPTION)
    async def wait(
        job_id: Annotated[str | None, Field(description="Id returned by start (or give job_ids).")] = None,
        timeout_ms: Annotated[
            int | None, Field(description="How long to wait; default WAIT_DEFAULT_MS, at most WAIT_MAX_MS.")
        ] = None,
        job_ids: Annotated[
            list[str] | None,
            Field(description="Several ids (e.g. a fan-out's), at most FARM_FANOUT_MAX; instead of job_id."),
        ] = None,
        mode: Annotated[
            WaitMode, Field(description="With job_ids: return when 'any' job has ended, or when 'all' have.")
        ] = "all",
        ctx: Context | None = None,
    ) -> WaitResult:
        if job_ids is not None:
            if job_id is not None:
                raise InvalidArgument("give job_id or job_ids, not both")
            return await service.wait_many(job_ids, mode, timeout_ms, progress=progress_reporter(ctx))
        if job_id is None:
            raise InvalidArgument(
                "job_id: Field required", hint="give job_id, or job_ids to wait for several jobs"
            )
        view = await service.wait(job_id, timeout_ms, progress=progress_reporter(ctx))
        return view if isinstance(view, WaitResult) else WaitResult.of(view)

    @server.tool(
        description="Stop a job: a queued one never starts, a running one has its whole process tree killed."
    )
    async def cancel(job_id: Annotated[str, Field(description=JOB_ID)]) -> CancelResult:
        return service.cancel(job_id)

    @server.tool(description="Recent jobs, newest first, one compact row each.")
    async def list_jobs(
        status: Annotated[JobStatus | None, Field(description="Only jobs with this status.")] = None,
        limit: Annotated[int, Field(description="How many rows (1-500).")] = 20,
    ) -> JobList:
        return service.list_jobs(status, limit)

    @server.tool(description=APPLY_DESCRIPTION)
    async def apply(
        job_id: Annotated[str, Field(description="Id returned by start; the job must have ended.")],
        mode: Annotated[
            ApplyMode,
            Field(description="'3way' merges into the working tree; 'check' only reports what would clash."),
        ] = "3way",
        force: Annotated[
            bool, Field(description="Apply again although this job was already applied.")
        ] = False,
    ) -> ApplyResult:
        return await service.apply(job_id, mode, force)
