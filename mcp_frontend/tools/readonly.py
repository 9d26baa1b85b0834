"""The no-model tools: search, read_pack, history, diff_digest and apply_edits; mcp_frontend/readonly/ does
their work, off the event loop."""

from functools import partial
from typing import Annotated

import anyio
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from mcp_frontend.readonly import apply_edits, diff_digest, history, read_pack, search
from mcp_frontend.readonly.files import sandbox_root
from mcp_frontend.service_protocols import ReadonlyService

SEARCH_GLOB = (
    "Only files matching this glob: '*.py' matches file names, a glob with '/' the path relative to "
    "SANDBOX_ROOT; a leading ! excludes."
)


def register(server: MCPServer, service: ReadonlyService) -> None:
    """Add the no-model tools to the server; they use the service only when called."""

    @server.tool(name="search", description=search.DESCRIPTION)
    async def search_tool(
        pattern: Annotated[
            str, Field(description="Regular expression (Python/ripgrep syntax), matched line by line.")
        ],
        paths: Annotated[
            list[str] | None,
            Field(
                description=f"Files or folders to search (at most {search.MAX_PATHS}), absolute or relative "
                "to SANDBOX_ROOT; required."
            ),
        ] = None,
        glob: Annotated[str | None, Field(description=SEARCH_GLOB)] = None,
        max_results: Annotated[
            int, Field(description=f"Most matching lines returned (1-{search.MAX_RESULTS_CAP}).")
        ] = 50,
        ignore_case: Annotated[bool, Field(description="Match without regard to case.")] = False,
    ) -> search.SearchResult:
        root = sandbox_root(service)
        return await anyio.to_thread.run_sync(
            partial(search.search, root, pattern, paths, glob, max_results, ignore_case)
        )

    @server.tool(name="read_pack", description=read_pack.DESCRIPTION)
    async def read_pack_tool(
        paths: Annotated[
            list[str],
            Field(
                description=f"Files or folders (at most {read_pack.MAX_PATHS}), absolute or relative to "
                "SANDBOX_ROOT."
            ),
        ],
        symbols: Annotated[
            list[str] | None,
            Field(description="Names whose definitions to show, e.g. 'load_patch' or 'JobStore.get'."),
        ] = None,
        keywords: Annotated[
            list[str] | None, Field(description="Literal text (any case) whose lines to show with context.")
        ] = None,
        max_bytes: Annotated[
            int,
            Field(
                description=f"Size cap of pack (default {read_pack.DEFAULT_MAX_BYTES}, at most "
                f"{read_pack.MAX_BYTES_CAP})."
            ),
        ] = read_pack.DEFAULT_MAX_BYTES,
        context: Annotated[
            int,
            Field(
                description="Lines shown before and after each hit or definition "
                f"(0-{read_pack.MAX_CONTEXT})."
            ),
        ] = 3,
    ) -> read_pack.ReadPackResult:
        root = sandbox_root(service)
        return await anyio.to_thread.run_sync(
            partial(read_pack.read_pack, root, paths, symbols, keywords, max_bytes, context)
        )

    @server.tool(name="history", description=history.DESCRIPTION)
    async def history_tool(
        path: Annotated[
            str,
            Field(description="File or folder, absolute or relative to SANDBOX_ROOT, inside a git checkout."),
        ],
        line: Annotated[
            int | None,
            Field(description="1-based line of the working file: adds blame and that line's commits."),
        ] = None,
        limit: Annotated[int, Field(description=f"Most commits returned (1-{history.MAX_LIMIT}).")] = 10,
    ) -> history.HistoryResult:
        root = sandbox_root(service)
        return await anyio.to_thread.run_sync(partial(history.history, root, path, line, limit))

    @server.tool(name="diff_digest", description=diff_digest.DESCRIPTION)
    async def diff_digest_tool(
        job_id: Annotated[
            str | None, Field(description="A finished job (id returned by start): digest its patch.")
        ] = None,
        repo: Annotated[
            str | None,
            Field(description="Or a git checkout inside SANDBOX_ROOT: digest its working tree against HEAD."),
        ] = None,
    ) -> diff_digest.DiffDigest:
        return await anyio.to_thread.run_sync(partial(diff_digest.diff_digest, service, job_id, repo))

    @server.tool(name="apply_edits", description=apply_edits.DESCRIPTION)
    async def apply_edits_tool(
        repo: Annotated[str, Field(description="Path of the git checkout (inside SANDBOX_ROOT).")],
        edits: Annotated[
            list[apply_edits.Edit],
            Field(description=f"The edits, applied in order (at most {apply_edits.MAX_EDITS})."),
        ],
    ) -> apply_edits.ApplyEditsResult:
        root = sandbox_root(service)
        return await anyio.to_thread.run_sync(partial(apply_edits.apply_edits, root, repo, edits))
