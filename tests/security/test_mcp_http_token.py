"""`codex-farm mcp --transport http` as a real process: every route and method refuses a missing or wrong
bearer token before MCP sees the request, never echoes or logs the token presented, and serves the right one.
(`codex-farm up`'s test checks the same frontend once through a full MCP client; this one goes request by
request.)"""

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.planted import plant
from tests.fixtures.processes import ServerProcess, free_port, python_module, start_server
from tests.fixtures.redis_server import RedisServer

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "token-test", "version": "1"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
UNAUTHORIZED = {
    "error": {
        "code": "unauthorized",
        "message": "missing or wrong bearer token",
        "hint": "send Authorization: Bearer $FARM_MCP_TOKEN",
    }
}


@pytest.fixture(scope="module")
def http_frontend(redis_server: RedisServer, tmp_path_factory) -> Iterator[tuple[ServerProcess, str]]:
    """The frontend over streamable HTTP on a free loopback port, and its token."""
    folder = tmp_path_factory.mktemp("mcp-http")
    token = plant("MCP bearer token", "mcp-token-" + secrets.token_hex(16))
    port = free_port()
    env = {
        "REDIS_URL": redis_server.url,
        "SANDBOX_ROOT": str(folder),
        "FARM_MCP_TOKEN": token,
        "FARM_KEY_PREFIX": "farm-mcp-http:",
    }
    args = python_module("codex_farm", "mcp", "--transport", "http", "--port", str(port))
    # ready once it answers at all (401)
    server = start_server(args, env, folder / "mcp-http.log", port, "/mcp")
    yield server, token
    server.stop()


def events(response: httpx.Response) -> list[dict]:
    """The JSON-RPC messages of a streamable HTTP answer (a JSON body or server-sent events)."""
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
@pytest.mark.parametrize("path", ["/mcp", "/mcp/", "/elsewhere"])
def test_a_missing_or_wrong_token_is_refused_everywhere_without_echoing_it(
    http_frontend, method: str, path: str
):
    server, token = http_frontend
    wrong = plant("wrong MCP token", "wrong-token-" + secrets.token_hex(16))
    presented = {
        "missing": {},
        "wrong": {"authorization": f"Bearer {wrong}"},
        "right token, wrong scheme": {"authorization": f"Token {token}"},
        "right token in another header": {"x-api-key": token},
    }
    for case, auth in presented.items():
        response = httpx.request(
            method,
            server.url + path,
            headers={**MCP_HEADERS, **auth},
            json=INITIALIZE if method == "POST" else None,
        )
        assert response.status_code == 401, (case, response.text)
        assert response.json() == UNAUTHORIZED, case
        assert response.headers["www-authenticate"] == "Bearer"
        answer = response.text + json.dumps(dict(response.headers))
        assert wrong not in answer and token not in answer, f"{case}: the token came back"
        assert "mcp-session-id" not in response.headers, f"{case}: MCP saw the request"


def test_the_right_token_reaches_mcp_and_no_token_is_logged(http_frontend):
    server, token = http_frontend
    headers = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        opened = http.post("/mcp", json=INITIALIZE)
        assert opened.status_code == 200, opened.text
        assert events(opened)[0]["result"]["serverInfo"]["name"]
        session = (
            {"mcp-session-id": opened.headers["mcp-session-id"]} if "mcp-session-id" in opened.headers else {}
        )
        http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        listed = http.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=session)
        assert listed.status_code == 200, listed.text
        assert {"start", "wait", "get"} <= {tool["name"] for tool in events(listed)[0]["result"]["tools"]}
        # A session opened with the right token is no pass for a request without it.
        assert (
            http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
                headers={**session, "authorization": ""},
            ).status_code
            == 401
        )

    log = server.log()  # the frontend's stdout and stderr, unbuffered
    assert token not in log, "the frontend logged its bearer token"
    assert "wrong-token-" not in log, "the frontend logged a presented token"


def test_http_transport_refuses_to_start_without_a_token(redis_server: RedisServer, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "FARM_MCP_TOKEN"}
    env.update(REDIS_URL=redis_server.url, SANDBOX_ROOT=str(tmp_path))
    args = [sys.executable, "-m", "codex_farm", "mcp", "--transport", "http", "--port", str(free_port())]
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode != 0
    assert "the HTTP transport needs FARM_MCP_TOKEN" in run.stderr
    assert "Traceback" not in run.stderr
