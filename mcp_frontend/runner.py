"""Serving the MCP frontend over stdio (default) or streamable HTTP with a bearer token."""

import contextlib
import logging

import anyio
import uvicorn
from pydantic import ValidationError

from farm_core.settings import FarmSettings
from mcp_frontend.http_auth import BearerAuth
from mcp_frontend.server import build_server
from mcp_frontend.service import FarmService
from mcp_frontend.settings import FrontendSettings


def serve(transport: str, host: str, port: int) -> None:
    """Run the frontend until stdin closes (stdio) or it is interrupted (http)."""
    frontend, farm = _settings()
    service = FarmService(frontend, farm)
    server = build_server(service, frontend.tools)
    # stdout is the protocol channel on stdio: logs go to stderr only.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if transport == "stdio":
        anyio.run(_stdio, server, service)
        return
    if frontend.http_token is None:
        raise SystemExit("mcp: the HTTP transport needs FARM_MCP_TOKEN (clients send it as a bearer token)")
    app = BearerAuth(server.streamable_http_app(host=host), frontend.http_token.get_secret_value())
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _settings() -> tuple[FrontendSettings, FarmSettings]:
    """The frontend's and the farm's settings; invalid ones exit with one line each, as `mcp: invalid setting
    FARM_TOOLS: Value error, unknown tool group 'x'; valid groups: ...`."""
    try:
        return FrontendSettings(), FarmSettings()
    except ValidationError as exc:
        problems = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SystemExit("\n".join(f"mcp: invalid setting {problem}" for problem in problems)) from None


async def _stdio(server, service: FarmService) -> None:
    with contextlib.suppress(anyio.get_cancelled_exc_class()):
        try:
            await server.run_stdio_async()
        finally:
            await service.aclose()
