"""The MCP server: the farm's tools, typed and documented, with structured errors."""

import json
import logging
import traceback
from functools import partial
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, TextContent
from pydantic import Field, ValidationError

from farm_core.job_models import CheckSpec, JobStatus, ScopedPatch
from mcp_frontend.apply import ApplyMode, AutoApply
from mcp_frontend.cheap.register import register_cheap_tools
from mcp_frontend.errors import FarmError, InvalidArgument
from mcp_frontend.fanout import FANOUT_DESCRIPTION, MATRIX_DESCRIPTION, JobEntry, StartArgs
from mcp_frontend.progress import progress_reporter
from mcp_frontend.service import FarmService
from mcp_frontend.shell import register as register_shell_tool
from mcp_frontend.strict_arguments import forbid_unknown_arguments, unknown_arguments_error
from mcp_frontend.views import ApplyResult, CancelResult, JobList, JobView, StartResult, TailResult, WaitResult

log = logging.getLogger("codex_farm.mcp")

INSTRUCTIONS = (
    "Delegate coding work to a farm of Claude Code workers. Call start with a prompt and a repo, then wait "
    "(repeat while job_status is running) and read the compact result; tail shows the log, cancel stops a job."
)

APPLY_DESCRIPTION = (
    "Bring a finished job's patch into the repo it was started from, as unstaged changes: never commits, never "
    "moves HEAD or a branch, never writes the index or the stash. mode '3way' merges with your local edits like "
    "`git apply --3way`: clashing files get conflict markers and are listed in conflicts, while the patch's other "
    "files are still applied; if git refuses the patch outright nothing changes. mode 'check' is a dry run. "
    "A job applies once; force applies it again."
)
APPLY_ON_SUCCESS = (
    "'on_success': when the job completes with every check passed, the frontend applies its patch to repo (as the "
    "apply tool, mode 3way) the first time wait or get sees it done; the outcome is in apply_result. Default 'never'."
)

AUTO_REVISE_DESCRIPTION = (
    "0-3: when a check (or the scope) fails, the agent continues in the same session with a digest of the failing "
    "checks, up to this many more passes; the last may use the worker's WORKER_ESCALATE_MODEL. The result then lists "
    "every pass in `passes`; `checks` are the final pass's. Default 0."
)


class FarmMCPServer(MCPServer):
    """MCPServer whose tools refuse unknown arguments and whose failures come back as `{error: {code, message, hint}}`."""

    redact = staticmethod(str)  # build_server puts the service's redactor here

    def add_tool(self, fn, name: str | None = None, **options) -> None:
        """Register fn as a tool (as MCPServer does) that refuses arguments its signature does not declare."""
        super().add_tool(fn, name=name, **options)
        forbid_unknown_arguments(self._tool_manager.get_tool(name or fn.__name__))

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            tool = self._tool_manager.get_tool(name)
            error = _farm_error(exc, tool.parameters if tool is not None else {})
            if type(error) is FarmError:  # a bug of ours: its traceback goes to the log the hint points to
                log.error("tool %s failed unexpectedly\n%s", name, self.redact("".join(traceback.format_exception(exc))))
            return error_result(error)


def _farm_error(exc: BaseException, input_schema: dict[str, Any]) -> FarmError:
    """The FarmError behind a tool failure; argument validation (against input_schema) becomes invalid_argument."""
    crashed = isinstance(exc, UnexpectedToolError)  # a bug of ours, not the caller's arguments
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, FarmError):
            return cause
        if isinstance(cause, ValidationError) and not crashed:
            # Unknown keys first: a misspelt argument usually also leaves a required one missing.
            return unknown_arguments_error(cause, input_schema) or _first_problem(cause)
        cause = cause.__cause__
    message = str(exc)
    if message.startswith("Unknown tool"):
        return InvalidArgument(message, hint="call tools/list for the tool names")
    return FarmError("internal error while running the tool", hint="see the frontend's log; the job state is in Redis")


def _first_problem(error: ValidationError) -> InvalidArgument:
    """invalid_argument for the first thing validation found, e.g. `lines: Input should be a valid integer`."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "arguments"
    return InvalidArgument(f"{where}: {first['msg']}")


def error_result(error: FarmError) -> CallToolResult:
    """A tool result flagged as an error, with the error in text and structured form."""
    body = {"error": error.as_dict()}
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(body))], structured_content=body, is_error=True)


def build_server(service: FarmService) -> FarmMCPServer:
    """The MCP server with every farm tool bound to one service."""
    server = FarmMCPServer(name="codex-farm", instructions=INSTRUCTIONS)
    server.redact = getattr(service, "redact", str)  # test doubles of the service have no secrets

    @server.tool(
        description="Queue a coding job on the farm and return its job_id at once; with jobs (or matrix), queue several "
        "and return {jobs: [{job_id, job_status, queue}, ...]}."
    )
    async def start(
        prompt: Annotated[str | None, Field(description="What the agent should do (required without jobs/matrix; with jobs, every entry's default).")] = None,
        repo: Annotated[str | None, Field(description="Path of the git checkout (inside SANDBOX_ROOT).")] = None,
        allowed_dirs: Annotated[list[str] | None, Field(description="Seed-style alias: the first entry is the repo, the others folders in it.")] = None,
        base: Annotated[str, Field(description="'worktree' (working tree as it is, uncommitted edits included), 'HEAD' or any commit-ish.")] = "worktree",
        model: Annotated[str | None, Field(description="Model name Claude Code asks for (mapped by the adapter).")] = None,
        permission_mode: Annotated[str | None, Field(description="default | acceptEdits | plan | bypassPermissions (needs ALLOW_BYPASS_PERMISSIONS).")] = None,
        include_diff: Annotated[bool | None, Field(description="Return the diff (trimmed to DIFF_MAX_BYTES) in the result.")] = None,
        scoped_patch: Annotated[ScopedPatch | None, Field(description="Paths the agent may change; writes elsewhere are denied.")] = None,
        checks: Annotated[list[CheckSpec] | None, Field(description="Commands run after the agent; each reports passed/failed/timed out.")] = None,
        queue: Annotated[str | None, Field(description="Celery queue (worker pool) to run on.")] = None,
        timeout_ms: Annotated[int | None, Field(description="Job timeout; the job ends timed_out past it.")] = None,
        max_turns: Annotated[int | None, Field(ge=1, le=500, description="Cap on agent turns.")] = None,
        auto_revise: Annotated[int, Field(ge=0, le=3, description=AUTO_REVISE_DESCRIPTION)] = 0,
        apply: Annotated[AutoApply, Field(description=APPLY_ON_SUCCESS)] = "never",
        jobs: Annotated[list[JobEntry] | None, Field(description=FANOUT_DESCRIPTION)] = None,
        matrix: Annotated[list[str] | None, Field(description=MATRIX_DESCRIPTION)] = None,
    ) -> StartResult:
        if jobs is not None or matrix is not None:
            defaults = StartArgs(
                prompt=prompt, repo=repo, allowed_dirs=allowed_dirs, base=base, model=model, permission_mode=permission_mode,
                include_diff=include_diff, scoped_patch=scoped_patch, checks=checks, queue=queue, timeout_ms=timeout_ms,
                max_turns=max_turns, apply=apply, auto_revise=auto_revise,
            )  # fmt: skip
            return await service.start_fanout(defaults, jobs, matrix)
        if prompt is None:
            raise InvalidArgument("prompt: Field required")
        return await service.start(
            prompt, repo, allowed_dirs, base, model, permission_mode, include_diff, scoped_patch, checks, queue, timeout_ms, max_turns,
            apply=apply, auto_revise=auto_revise,
        )

    @server.tool(description="Status and compact result of a job; include_diff adds the diff, verbose the full record.")
    async def get(
        job_id: Annotated[str, Field(description="Id returned by start.")],
        verbose: Annotated[bool, Field(description="Include the full job record.")] = False,
        include_diff: Annotated[bool, Field(description="Include the result diff, trimmed to DIFF_MAX_BYTES.")] = False,
    ) -> JobView:
        return await anyio.to_thread.run_sync(partial(service.get, job_id, verbose, include_diff))  # it may apply (git)

    @server.tool(description="Recent redacted log lines of a job, with a cursor to continue from.")
    async def tail(
        job_id: Annotated[str, Field(description="Id returned by start.")],
        lines: Annotated[int, Field(description="How many lines (1-1000).")] = 50,
        cursor: Annotated[str | None, Field(description="Cursor from the previous tail: only newer lines.")] = None,
    ) -> TailResult:
        return service.tail(job_id, lines, cursor)

    @server.tool(
        description="Block until the job ends or timeout_ms passes (then job_status is still running); never stops the job. "
        "With a progress token, each tool call, check and status line of the job is sent as a progress notification. "
        "With job_ids instead of job_id: return as soon as any (mode 'any') or all (mode 'all') of them have ended, "
        "as {mode, done, jobs}: the compact result of each ended job, {job_id, job_status} of the others."
    )
    async def wait(
        job_id: Annotated[str | None, Field(description="Id returned by start (or give job_ids).")] = None,
        timeout_ms: Annotated[int | None, Field(description="How long to wait; default WAIT_DEFAULT_MS, at most WAIT_MAX_MS.")] = None,
        job_ids: Annotated[list[str] | None, Field(description="Several ids (e.g. a fan-out's), at most FARM_FANOUT_MAX; instead of job_id.")] = None,
        mode: Annotated[Literal["any", "all"], Field(description="With job_ids: return when 'any' job has ended, or when 'all' have.")] = "all",
        ctx: Context | None = None,
    ) -> WaitResult:
        if job_ids is not None:
            if job_id is not None:
                raise InvalidArgument("give job_id or job_ids, not both")
            return await service.wait_many(job_ids, mode, timeout_ms, progress=progress_reporter(ctx))
        if job_id is None:
            raise InvalidArgument("job_id: Field required", hint="give job_id, or job_ids to wait for several jobs")
        view = await service.wait(job_id, timeout_ms, progress=progress_reporter(ctx))
        return view if isinstance(view, WaitResult) else WaitResult.of(view)

    @server.tool(description="Stop a job: a queued one never starts, a running one has its whole process tree killed.")
    async def cancel(job_id: Annotated[str, Field(description="Id returned by start.")]) -> CancelResult:
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
        mode: Annotated[ApplyMode, Field(description="'3way' merges into the working tree; 'check' only reports what would clash.")] = "3way",
        force: Annotated[bool, Field(description="Apply again although this job was already applied.")] = False,
    ) -> ApplyResult:
        return await service.apply(job_id, mode, force)

    register_cheap_tools(server, service)
    register_shell_tool(server, service)
    __import__("mcp_frontend.readonly.register", fromlist=["register"]).register_readonly_tools(server, service)
    return server
