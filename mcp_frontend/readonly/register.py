"""Adds the zero-LLM code tools (search, read_pack, history, diff_digest, apply_edits) to the MCP server."""

from mcp_frontend.readonly import apply_edits, diff_digest, history, read_pack, search


def register_readonly_tools(server, service) -> None:
    """Register every tool of this package on server; service is only used when a tool is called."""
    for module in (search, read_pack, history, diff_digest, apply_edits):
        module.register(server, service)
