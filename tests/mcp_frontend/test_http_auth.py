"""BearerAuth in front of an ASGI app: only the exact bearer token gets through."""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mcp_frontend.http_auth import BearerAuth

TOKEN = "mcp-token-7d3f0a9c1e5b"
calls: list[str] = []


async def hello(request):
    calls.append(request.url.path)
    return PlainTextResponse("hello")


@pytest.fixture
def client():
    calls.clear()
    app = BearerAuth(Starlette(routes=[Route("/mcp", hello, methods=["GET", "POST"])]), TOKEN)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://frontend")


REFUSED = [
    ("no_header", {}),
    ("wrong_token", {"authorization": "Bearer mcp-token-wrong"}),
    ("token_prefix", {"authorization": f"Bearer {TOKEN[:-1]}"}),
    ("token_plus_suffix", {"authorization": f"Bearer {TOKEN}x"}),
    ("no_scheme", {"authorization": TOKEN}),
    ("basic_scheme", {"authorization": f"Basic {TOKEN}"}),
    ("two_spaces", {"authorization": f"Bearer  {TOKEN}"}),
    ("empty", {"authorization": ""}),
    ("token_in_other_header", {"x-api-key": TOKEN}),
]


@pytest.mark.parametrize("headers", [c[1] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_refused(client, headers):
    async with client:
        response = await client.post("/mcp", headers=headers, content=b"{}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "unauthorized",
            "message": "missing or wrong bearer token",
            "hint": "send Authorization: Bearer $FARM_MCP_TOKEN",
        }
    }
    assert calls == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_right_token_reaches_the_app(client, method):
    async with client:
        response = await client.request(method, "/mcp", headers={"authorization": f"Bearer {TOKEN}"})
    assert (response.status_code, response.text) == (200, "hello")
    assert calls == ["/mcp"]


async def test_non_http_scopes_pass_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    await BearerAuth(app, TOKEN)({"type": "lifespan"}, None, None)
    assert seen == ["lifespan"]
