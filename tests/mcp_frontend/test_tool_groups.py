"""Tool groups (FARM_TOOLS): every tool is in one group, the frontend serves only the groups it is given
(`core` by default), and a switched-off tool's error says which FARM_TOOLS value turns it on.

Through the real server and the official client in memory; the refused start-up through `codex-farm mcp`.
"""

import subprocess
import sys

import anyio
import pytest
from mcp import Client
from pydantic import ValidationError

from mcp_frontend.server import FarmMCPServer, build_server
from mcp_frontend.settings import FrontendSettings
from mcp_frontend.tool_groups import GROUP_OF, TOOL_GROUPS, tools_of
from tests.fixtures.mcp_calls import call_error

INVALID_GROUPS = "valid groups: core, read, edit, review, or all"


async def listed_names(groups: frozenset[str] | None = None) -> list[str]:
    """tools/list's names, in its order, of a server serving groups (None: build_server's default)."""
    server = build_server(service=None) if groups is None else build_server(None, groups)
    async with Client(server) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


EVERY_TOOL = anyio.run(listed_names)  # all of today's tools, in tools/list's order


def served_by(value: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tools a frontend started with FARM_TOOLS=value lists."""
    monkeypatch.setenv("FARM_TOOLS", value)
    return anyio.run(listed_names, FrontendSettings().tools)


def test_every_tool_is_in_exactly_one_group():
    declared = [tool for tools in TOOL_GROUPS.values() for tool in tools]
    assert len(declared) == len(set(declared)) == 17
    assert sorted(declared) == sorted(EVERY_TOOL)


def test_the_default_is_core(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("FARM_TOOLS", raising=False)
    assert FrontendSettings().tools == {"core"}
    assert set(anyio.run(listed_names, FrontendSettings().tools)) == {
        "start",
        "get",
        "wait",
        "tail",
        "cancel",
        "apply",
        "analyze",
    }


@pytest.mark.parametrize(
    "value, groups",
    [
        ("core", {"core"}),
        ("read", {"read"}),
        ("edit", {"edit"}),
        ("review", {"review"}),
        ("core,read", {"core", "read"}),
        ("core,edit", {"core", "edit"}),
        (" core , review ", {"core", "review"}),
        ("core,read,edit,review", set(TOOL_GROUPS)),
        ("all", set(TOOL_GROUPS)),
    ],
)
def test_farm_tools_switches_each_group_on_and_off_keeping_the_order(
    value: str, groups: set[str], monkeypatch: pytest.MonkeyPatch
):
    served = served_by(value, monkeypatch)
    assert served == [tool for tool in EVERY_TOOL if GROUP_OF[tool] in groups]
    assert set(served) == tools_of(groups)


@pytest.mark.parametrize(
    "value, problem",
    [
        ("core,bogus", "unknown tool group 'bogus'"),
        ("Core", "unknown tool group 'Core'"),
        ("", "no tool group given"),
        (" , ", "no tool group given"),
    ],
)
def test_an_unknown_group_is_an_invalid_setting_naming_the_valid_groups(
    value: str, problem: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FARM_TOOLS", value)
    with pytest.raises(ValidationError) as raised:
        FrontendSettings()
    [error] = raised.value.errors()
    assert error["loc"] == ("FARM_TOOLS",)
    assert error["msg"] == f"Value error, {problem}; {INVALID_GROUPS}"


def test_the_frontend_refuses_to_start_with_an_unknown_group_in_one_line():
    env = {"PATH": "/usr/bin:/bin", "FARM_TOOLS": "core,bogus"}
    done = subprocess.run(
        [sys.executable, "-m", "codex_farm", "mcp"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"mcp: invalid setting FARM_TOOLS: Value error, unknown tool group 'bogus'; {INVALID_GROUPS}\n"
    )


@pytest.mark.parametrize(
    "groups, tool, turn_on",
    [
        ({"core"}, "shell", "core,edit"),
        ({"core"}, "search", "core,read"),
        ({"core", "read"}, "list_jobs", "core,read,review"),
        ({"read"}, "start", "core,read"),
    ],
)
async def test_calling_a_switched_off_tool_names_its_group_and_the_setting(
    groups: set[str], tool: str, turn_on: str
):
    async with Client(build_server(None, frozenset(groups))) as client:
        error = await call_error(client, tool, {})
    assert error == {
        "code": "invalid_argument",
        "message": f"Unknown tool: {tool}",
        "hint": f"{tool} is in the tool group {GROUP_OF[tool]}, which is off: start the frontend with "
        f"FARM_TOOLS={turn_on}",
    }


def test_a_tool_outside_every_group_is_refused_when_registered():
    server = FarmMCPServer(frozenset(TOOL_GROUPS), name="test")

    async def unlisted() -> str:
        return "never served"

    with pytest.raises(ValueError, match="tool unlisted is in no tool group"):
        server.add_tool(unlisted)
