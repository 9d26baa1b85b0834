"""Strict arguments: every tool refuses keys it does not declare, at the top level and nested, naming the
one meant.

Through the real server and the official client in memory. Most calls go to a service no refused call may
reach; `start` also runs on the real Redis with Celery's hand-off recorded, to show that a refused call
enqueues nothing.
"""

import anyio
import pytest
from mcp import Client

from farm_core.refs import SNAPSHOT_REF_PREFIX
from mcp_frontend.server import build_server
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok


class UntouchedService:
    """A service a refused call never reaches: it has no attributes, so a tool body that ran would fail as
    internal."""

    def __getattr__(self, name: str):
        raise AttributeError(f"a refused call reached service.{name}")


async def _listed_tools() -> dict:
    async with Client(build_server(UntouchedService())) as client:
        return {tool.name: tool for tool in (await client.list_tools()).tools}


TOOLS = anyio.run(_listed_tools)  # as tools/list gives them, so a new tool is covered too


async def refused(tool: str, arguments: dict) -> dict:
    """The structured error of a call to tool on a server whose service must stay untouched."""
    async with Client(build_server(UntouchedService())) as client:
        return await call_error(client, tool, arguments)


def misspelt(schema: dict) -> tuple[str, str]:
    """(an argument, the same less its last letter): the longest argument whose shortened name is no other
    argument."""
    names = schema["properties"]
    name = max((name for name in names if name[:-1] not in names), key=len)
    return name, name[:-1]


def object_schemas(node, where: str):
    """(where, schema) of every object schema in a JSON schema, nested ones and $defs included."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield where, node
        for key, value in node.items():
            yield from object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from object_schemas(value, f"{where}/{index}")


def test_tools_list_has_every_tool():
    assert len(TOOLS) >= 17 and {"start", "shell", "analyze", "apply_edits"} <= set(TOOLS)


@pytest.mark.parametrize("tool", sorted(TOOLS))
async def test_a_misspelt_argument_is_refused_with_the_name_meant(tool):
    name, typo = misspelt(TOOLS[tool].input_schema)
    error = await refused(tool, {typo: "x"})
    assert error["code"] == "invalid_argument"
    # Named before anything else, such as a required argument now missing.
    assert error["message"] == f"{typo}: unknown argument; did you mean {name}?"


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_input_schema_refuses_unknown_keys(tool):
    schema = TOOLS[tool].input_schema
    assert schema["additionalProperties"] is False
    loose = [
        where for where, node in object_schemas(schema, tool) if node.get("additionalProperties") is not False
    ]
    assert loose == [], "nested argument objects must refuse unknown keys too (pydantic extra='forbid')"


NESTED = [
    # (id, tool, arguments, message)
    (
        "check",
        "start",
        {"prompt": "p", "checks": [{"name": "tests", "command": "true", "timout_ms": 5000}]},
        "checks.0.timout_ms: unknown argument; did you mean timeout_ms?",
    ),
    (
        "scoped_patch",
        "start",
        {"prompt": "p", "scoped_patch": {"path": ["src"]}},
        "scoped_patch.path: unknown argument; did you mean paths?",
    ),
    (
        "fanout_entry",
        "start",
        {"repo": "r", "jobs": [{"prompt": "a"}, {"promt": "b"}]},
        "jobs.1.promt: unknown argument; did you mean prompt?",
    ),
    (
        "check_in_fanout_entry",
        "start",
        {"repo": "r", "jobs": [{"prompt": "a", "checks": [{"name": "t", "command": "c", "nmae": "x"}]}]},
        "jobs.0.checks.0.nmae: unknown argument; did you mean name?",
    ),
    (
        "edit",
        "apply_edits",
        {"repo": "r", "edits": [{"path": "a.py", "find": "x", "replace": "y", "regexp": True}]},
        "edits.0.regexp: unknown argument; did you mean regex?",
    ),
    (
        "nothing_close",
        "start",
        {"prompt": "p", "scoped_patch": {"paths": ["a"], "size": 1}},
        "scoped_patch.size: unknown argument (valid: paths, max_diff_bytes)",
    ),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "message"), [case[1:] for case in NESTED], ids=[case[0] for case in NESTED]
)
async def test_an_unknown_nested_key_is_refused_by_its_path(tool, arguments, message):
    error = await refused(tool, arguments)
    assert (error["code"], error["message"]) == ("invalid_argument", message)


async def test_every_unknown_argument_is_named():
    error = await refused(
        "get", {"job_id": "j1", "includeDiff": True, "verbos": True, "colour": 1, "shade": 2}
    )
    assert error["message"] == (
        "includeDiff: unknown argument; did you mean include_diff? verbos: unknown argument; did "
        "you mean verbose? colour, shade: unknown arguments (valid: job_id, verbose, include_diff)"
    )


async def test_a_key_no_argument_is_close_to_lists_the_valid_ones():
    error = await refused("cancel", {"job_id": "j1", "": 1})
    assert error["message"] == "'': unknown argument (valid: job_id)"


@pytest.mark.parametrize(
    "mistake",
    [{"include_dif": True}, {"checks": [{"name": "tests", "command": "true", "timout_ms": 5000}]}],
    ids=["include_dif", "nested_timout_ms"],
)
async def test_a_refused_start_enqueues_and_snapshots_nothing(recording, make_repo, mistake):
    repo = make_repo(parent=recording.sandbox)
    async with Client(build_server(recording.service)) as client:
        error = await call_error(client, "start", {"prompt": "fix it", "repo": str(repo), **mistake})
        assert error["code"] == "invalid_argument" and "did you mean" in error["message"]
        assert recording.sent == [] and recording.service.store.list_ids(10) == []
        assert git(repo, "for-each-ref", SNAPSHOT_REF_PREFIX) == ""

        # The same call spelt right is queued: the checks above would have seen it.
        started = await call_ok(
            client, "start", {"prompt": "fix it", "repo": str(repo), "include_diff": True}
        )
    assert [spec.job_id for spec in recording.sent] == [started["job_id"]] and recording.sent[
        0
    ].include_diff is True
