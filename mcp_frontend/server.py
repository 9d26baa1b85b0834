"""The MCP server: the farm's tools (mcp_frontend/tools/, one module per kind) of the tool groups that are
on (mcp_frontend/tool_groups.py), and structured errors."""

import json
import logging
import traceback
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError

from mcp_frontend.errors import InvalidArgument, ToolCallError
from mcp_frontend.service_protocols import FrontendService
from mcp_frontend.strict_arguments import forbid_unknown_arguments, unknown_arguments_error
from mcp_frontend.tool_groups import EVERY_GROUP, GROUP_OF, tools_of, turn_on_hint
from mcp_frontend.tools import cheap, jobs, readonly, shell

log = logging.getLogger("codex_farm.mcp")

INSTRUCTIONS = (
    "Delegate coding work to a farm of Claude Code workers. Call start with a "
    "prompt and a repo, then wait (repeat while job_status is running) and read the "
    "compact result; tail shows the log, cancel stops a job."
)


class FarmMCPServer(MCPServer):
    """MCPServer serving the tools of the given tool groups only, whose tools refuse unknown arguments and
    whose failures come back as `{error: {code, message, hint}}`."""

    redact = staticmethod(str)  # build_server puts the service's redactor here

    def __init__(self, groups: frozenset[str], **options) -> None:
        super().__init__(**options)
        self.groups = groups
        self.enabled_tools = tools_of(groups)

    def add_tool(self, fn, name: str | None = None, **options) -> None:
        """Register fn as a tool (as MCPServer does) that refuses arguments its signature does not declare;
        a tool of a group that is off is left out."""
        name = name or fn.__name__
        if name not in GROUP_OF:  # else no FARM_TOOLS value could serve it
            raise ValueError(f"tool {name} is in no tool group: add it to mcp_frontend/tool_groups.py")
        if name not in self.enabled_tools:
            return
        super().add_tool(fn, name=name, **options)
        forbid_unknown_arguments(self._tool_manager.get_tool(name))

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            tool = self._tool_manager.get_tool(name)
            error = _farm_error(exc, tool.parameters if tool is not None else {})
            if tool is None and name in GROUP_OF:  # one of ours, switched off
                error = InvalidArgument(error.message, hint=turn_on_hint(name, self.groups))
            # The catch-all is a bug of ours: its traceback goes to the log the hint points to.
            if type(error) is ToolCallError:
                log.error(
                    "tool %s failed unexpectedly\n%s",
                    name,
                    self.redact("".join(traceback.format_exception(exc))),
                )
            return error_result(error)


def _farm_error(exc: BaseException, input_schema: dict[str, Any]) -> ToolCallError:
    """The ToolCallError behind a tool failure; argument validation (against input_schema) becomes
    invalid_argument."""
    crashed = isinstance(exc, UnexpectedToolError)  # a bug of ours, not the caller's arguments
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ToolCallError):
            return cause
        if isinstance(cause, ValidationError) and not crashed:
            # Unknown keys first: a misspelt argument usually also leaves a required one missing.
            return unknown_arguments_error(cause, input_schema) or _first_problem(cause)
        cause = cause.__cause__
    message = str(exc)
    if message.startswith("Unknown tool"):
        return InvalidArgument(message, hint="call tools/list for the tool names")
    return ToolCallError(
        "internal error while running the tool", hint="see the frontend's log; the job state is in Redis"
    )


def _first_problem(error: ValidationError) -> InvalidArgument:
    """invalid_argument for the first thing validation found, e.g. `lines: Input should be a valid
    integer`."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "arguments"
    return InvalidArgument(f"{where}: {first['msg']}")


def error_result(error: ToolCallError) -> CallToolResult:
    """A tool result flagged as an error, with the error in text and structured form."""
    body = {"error": error.as_dict()}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body))], structured_content=body, is_error=True
    )


def build_server(service: FrontendService, groups: frozenset[str] = EVERY_GROUP) -> FarmMCPServer:
    """The MCP server with the farm's tools of groups (default: all; the frontend serves FARM_TOOLS's) bound
    to one service."""
    server = FarmMCPServer(groups, name="codex-farm", instructions=INSTRUCTIONS)
    server.redact = getattr(service, "redact", str)  # test doubles of the service have no secrets
    for module in (jobs, cheap, shell, readonly):  # the order tools/list gives them in
        module.register(server, service)
    return server
