"""The shell tool: one command run on the farm, no agent and no model call (mcp_frontend/shell.py runs it)."""

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from mcp_frontend.progress import progress_reporter
from mcp_frontend.service_protocols import ShellService
from mcp_frontend.shell import DEFAULT_TIMEOUT_MS, ShellResult, run_shell

DESCRIPTION = (
    "Run one shell command (tests, build, lint) on the farm, in a fresh worktree of a snapshot of repo (base "
    "'worktree': your uncommitted edits included; files the command writes are thrown away), and wait for "
    "it. Returns a digest, not the output: status passed|failed|timed_out|cancelled, exit_code, failure_kind "
    "(none, test_failure, compile_error, lint, command_not_found, timeout, killed, other), summary_line, "
    "decisive_lines, output_bytes, elapsed_ms and job_id (get_artifact_slice(job_id, 'log') or tail read the "
    "full output). A non-zero exit is a result, not an error. Past WAIT_MAX_MS it returns job_status "
    "'running': call wait or get later, or cancel."
)


def register(server: MCPServer, service: ShellService) -> None:
    """Add the shell tool to the server."""

    @server.tool(name="shell", description=DESCRIPTION)
    async def shell(
        command: Annotated[
            str,
            Field(
                description="Shell command run with bash -o pipefail in the worktree's top, e.g. "
                "'python -m pytest -q'."
            ),
        ],
        repo: Annotated[str, Field(description="Path of the git checkout (inside SANDBOX_ROOT).")],
        timeout_ms: Annotated[
            int, Field(description="Kill the command after this long (1000 to FARM_MAX_TIMEOUT_MS).")
        ] = DEFAULT_TIMEOUT_MS,
        digest: Annotated[
            bool, Field(description="true: decisive_lines; false: the redacted tail of the output instead.")
        ] = True,
        queue: Annotated[
            str | None,
            Field(description="Celery queue (worker pool) to run on; default the first of FARM_QUEUE."),
        ] = None,
        base: Annotated[
            str, Field(description="'worktree' (the working tree as it is), 'HEAD' or any commit-ish.")
        ] = "worktree",
        ctx: Context | None = None,
    ) -> ShellResult:
        return await run_shell(
            service, command, repo, timeout_ms, digest, queue, base, progress=progress_reporter(ctx)
        )
