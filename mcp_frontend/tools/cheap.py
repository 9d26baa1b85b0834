"""The cheap tools: one bounded model call each (analyze, review, draft), and bounded artifact slices."""

from functools import partial
from typing import Annotated

import anyio
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_frontend.cheap.analyze import AnalyzeResult, analyze
from mcp_frontend.cheap.artifacts import SLICE_MAX_BYTES, ArtifactSlice, get_artifact_slice
from mcp_frontend.cheap.draft import DraftKind, DraftResult, draft
from mcp_frontend.cheap.review import ReviewResult, review
from mcp_frontend.service_protocols import CheapService

REPO = "Directory inside SANDBOX_ROOT that relative files and globs start from; default SANDBOX_ROOT."
# None of them changes a repo or a job (analyze writes only its own cache).
READ_ONLY = ToolAnnotations(read_only_hint=True)
MODEL = "Model name (mapped by the adapter); default FARM_LITE_MODEL."
ANALYZE_DESCRIPTION = (
    "Answer a question about some files with one cheap model call (no agent, no job): reads the first "
    "20 KB of each file, 100 KB in all, and notes what was cut. Identical questions over identical files are "
    "answered from a cache (WORKER_LITE_CACHE_TTL_S). Read-only."
)
REVIEW_DESCRIPTION = (
    "Review a finished job's diff and check verdicts (or some files) with one cheap model call; returns "
    "verdict 'accept' or 'repair' and findings [{file, line, severity, message}]. Read-only."
)
DRAFT_DESCRIPTION = (
    "Draft a commit message, PR description or changelog entry with one cheap model call, from a job's "
    "patch or from a repo's uncommitted changes (git diff HEAD plus untracked files). Read-only."
)
SLICE_DESCRIPTION = (
    "A bounded, redacted slice of a job's large artifact: 'log' (its log as tail shows it), 'patch' "
    "(the stored patch) or 'check:<name>' (that check's output). Read on with next_offset until it is null."
)


def register(server: MCPServer, service: CheapService) -> None:
    """Add analyze, review, draft and get_artifact_slice to the server (each uses the service once called)."""

    @server.tool(
        name="analyze",
        annotations=READ_ONLY,
        description=ANALYZE_DESCRIPTION,
    )
    async def analyze_files(
        question: Annotated[str, Field(description="What to find out (at most 8000 characters).")],
        files: Annotated[
            list[str] | None,
            Field(description="File paths, relative to repo or absolute inside SANDBOX_ROOT."),
        ] = None,
        globs: Annotated[
            list[str] | None, Field(description="Glob patterns relative to repo, e.g. 'src/**/*.py'.")
        ] = None,
        repo: Annotated[str | None, Field(description=REPO)] = None,
        model: Annotated[str | None, Field(description=MODEL)] = None,
    ) -> AnalyzeResult:
        return await analyze(service, question, files, globs, repo, model)

    @server.tool(
        name="review",
        annotations=READ_ONLY,
        description=REVIEW_DESCRIPTION,
    )
    async def review_change(
        job_id: Annotated[str | None, Field(description="A finished job whose diff is reviewed.")] = None,
        files: Annotated[
            list[str] | None, Field(description="Instead of a job: files to review (relative to repo).")
        ] = None,
        repo: Annotated[str | None, Field(description=REPO)] = None,
        focus: Annotated[
            str | None, Field(description="What to look at most closely, e.g. 'error handling'.")
        ] = None,
        model: Annotated[str | None, Field(description=MODEL)] = None,
    ) -> ReviewResult:
        return await review(service, job_id, files, repo, focus, model)

    @server.tool(
        name="draft",
        annotations=READ_ONLY,
        description=DRAFT_DESCRIPTION,
    )
    async def draft_text(
        kind: Annotated[DraftKind, Field(description="commit | pr | changelog")],
        job_id: Annotated[str | None, Field(description="A finished job whose patch is described.")] = None,
        repo: Annotated[
            str | None, Field(description="Instead of a job: a git checkout inside SANDBOX_ROOT.")
        ] = None,
        instructions: Annotated[
            str | None, Field(description="Extra guidance, e.g. 'mention issue #12'.")
        ] = None,
        model: Annotated[str | None, Field(description=MODEL)] = None,
    ) -> DraftResult:
        return await draft(service, kind, job_id, repo, instructions, model)

    @server.tool(
        name="get_artifact_slice",
        annotations=READ_ONLY,
        description=SLICE_DESCRIPTION,
    )
    async def get_artifact_slice_tool(
        job_id: Annotated[str, Field(description="Id returned by start.")],
        artifact: Annotated[str, Field(description="log | patch | check:<name>")],
        offset: Annotated[
            int, Field(description="Byte offset to start at (next_offset of the previous slice).")
        ] = 0,
        max_bytes: Annotated[int, Field(description=f"Bytes to return, 1-{SLICE_MAX_BYTES}.")] = 16384,
    ) -> ArtifactSlice:
        return await anyio.to_thread.run_sync(
            partial(get_artifact_slice, service, job_id, artifact, offset, max_bytes)
        )
