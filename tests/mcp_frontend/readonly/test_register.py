"""The read-only tools are on the server, typed and described, and their errors are documented."""

import re
from pathlib import Path

from mcp import Client

from mcp_frontend.server import build_server

TOOLS = {"search", "read_pack", "history", "diff_digest", "apply_edits"}
TOOLS_DOC = (Path(__file__).parents[3] / "docs" / "tools.md").read_text()


async def test_the_tools_are_registered_with_result_schemas(service):
    async with Client(build_server(service)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert TOOLS <= set(tools)
    for name in TOOLS:
        assert tools[name].output_schema and tools[name].output_schema["type"] == "object", name
        for prop, schema in tools[name].input_schema["properties"].items():
            assert schema.get("description"), f"{name}.{prop}"


def test_new_error_codes_are_documented():
    for code in (
        "request_too_large",
        "path_not_found",
        "path_outside_repo",
        "edit_mismatch",
        "git_query_failed",
    ):
        assert re.search(rf"`{code}`", TOOLS_DOC), code
