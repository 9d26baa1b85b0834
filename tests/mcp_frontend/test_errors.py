"""The MCP server's error mapping, called in-process with a fake service: every failure is `{error: {code,
message, hint}}`."""

import json
from typing import Any

import pytest
from mcp import Client
from pydantic import BaseModel

from farm_core.git_errors import GitOperationError
from farm_core.job_models import JobStatus
from mcp_frontend import errors
from mcp_frontend.errors import ToolCallError
from mcp_frontend.server import build_server
from mcp_frontend.views import CancelResult, JobList, JobRow, JobView, StartResult, TailResult


def farm_error_classes() -> list[type[ToolCallError]]:
    found, todo = [], [ToolCallError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.code)


class FakeService:
    """Stands in for FarmService: raises `outcome` if it is an exception, else answers from it."""

    def __init__(self, outcome: BaseException | dict[str, BaseModel] | None = None):
        self.outcome = outcome
        self.calls: list[tuple[str, tuple]] = []

    def _answer(self, name: str, args: tuple, kwargs: dict) -> Any:
        self.calls.append((name, args))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome[name]

    async def start(self, *args, **kwargs):
        return self._answer("start", args, kwargs)

    def get(self, *args, **kwargs):
        return self._answer("get", args, kwargs)

    def tail(self, *args, **kwargs):
        return self._answer("tail", args, kwargs)

    async def wait(self, *args, **kwargs):
        return self._answer("wait", args, kwargs)

    def cancel(self, *args, **kwargs):
        return self._answer("cancel", args, kwargs)

    def list_jobs(self, *args, **kwargs):
        return self._answer("list_jobs", args, kwargs)


CALLS = [
    ("start", {"prompt": "do it", "repo": "app"}),
    ("get", {"job_id": "j1"}),
    ("tail", {"job_id": "j1", "lines": 5}),
    ("wait", {"job_id": "j1", "timeout_ms": 10}),
    ("cancel", {"job_id": "j1"}),
    ("list_jobs", {"limit": 3}),
]


async def call(service: FakeService, tool: str, arguments: dict):
    async with Client(build_server(service)) as client:
        return await client.call_tool(tool, arguments)


def error_of(result) -> dict:
    assert result.is_error is True
    # The text content carries the same document, for clients that ignore structured content.
    assert [json.loads(c.text) for c in result.content] == [result.structured_content]
    return result.structured_content["error"]


def test_error_classes_have_distinct_codes_and_hints():
    classes = farm_error_classes()
    assert len(classes) >= 8
    assert len({c.code for c in classes}) == len(classes)
    assert all(c.hint and c.code.islower() for c in classes)


@pytest.mark.parametrize("cls", farm_error_classes(), ids=lambda c: c.code)
async def test_farm_errors_become_structured_errors(cls):
    service = FakeService(cls(f"{cls.__name__} happened"))
    async with Client(build_server(service)) as client:
        for tool, arguments in CALLS:
            error = error_of(await client.call_tool(tool, arguments))
            assert error == {"code": cls.code, "message": f"{cls.__name__} happened", "hint": cls.hint}, tool
    assert [name for name, _ in service.calls] == [tool for tool, _ in CALLS]


async def test_custom_hint_is_kept():
    error = error_of(
        await call(FakeService(errors.UnknownJob("no job j1", hint="try list_jobs")), "get", {"job_id": "j1"})
    )
    assert error == {"code": "unknown_job", "message": "no job j1", "hint": "try list_jobs"}


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("redis://:pw-secret@host failed"),
        KeyError("sk-secret-key"),
        ZeroDivisionError(),
        # A farm error that is not a tool call's (git's own, here) reaching a tool is a bug of ours too.
        GitOperationError("git fetch failed: https://user:pw-secret@host/repo", code="git_failed"),
    ],
)
async def test_unexpected_exceptions_are_internal_errors_without_details(exc):
    result = await call(FakeService(exc), "get", {"job_id": "j1"})
    assert error_of(result) == {
        "code": "farm_error",
        "message": "internal error while running the tool",
        "hint": "see the frontend's log; the job state is in Redis",
    }
    assert "secret" not in result.content[0].text


VALIDATION = [
    # (id, tool, arguments, message)
    ("missing_required", "get", {}, "job_id: Field required"),
    ("missing_prompt", "start", {"repo": "app"}, "prompt: Field required"),
    (
        "wrong_type",
        "tail",
        {"job_id": "j1", "lines": "many"},
        "lines: Input should be a valid integer, unable to parse string as an integer",
    ),
    ("string_for_int_id", "get", {"job_id": 5}, "job_id: Input should be a valid string"),
    (
        "bound",
        "start",
        {"prompt": "p", "max_turns": 0},
        "max_turns: Input should be greater than or equal to 1",
    ),
    (
        "bad_enum",
        "list_jobs",
        {"status": "done"},
        "status: Input should be 'queued', 'running', 'completed', 'failed', "
        "'cancelled', 'timed_out' or 'lost'",
    ),
    (
        "nested_model",
        "start",
        {"prompt": "p", "scoped_patch": {"paths": ["../x"]}},
        "scoped_patch.paths: Value error, scoped path '../x' must be relative and stay inside the repo",
    ),
    (
        "list_item",
        "start",
        {"prompt": "p", "checks": [{"name": "ok", "command": "true"}, {"name": "a;b", "command": "x"}]},
        "checks.1.name: Value error, check name: 1-64 letters, digits, spaces or . : / - _",
    ),
    (
        "extra_field_in_model",
        "start",
        {"prompt": "p", "scoped_patch": {"paths": ["a"], "size": 1}},
        "scoped_patch.size: unknown argument (valid: paths, max_diff_bytes)",
    ),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "message"), [c[1:] for c in VALIDATION], ids=[c[0] for c in VALIDATION]
)
async def test_argument_validation_is_invalid_argument(tool, arguments, message):
    service = FakeService(RuntimeError("must not be called"))
    error = error_of(await call(service, tool, arguments))
    assert error == {
        "code": "invalid_argument",
        "message": message,
        "hint": "fix the named argument and call again",
    }
    assert service.calls == []


async def test_unknown_tool_is_invalid_argument():
    error = error_of(await call(FakeService(), "explode", {}))
    assert error == {
        "code": "invalid_argument",
        "message": "Unknown tool: explode",
        "hint": "call tools/list for the tool names",
    }


VIEW = JobView(
    job_id="j1", job_status=JobStatus.completed, changed_files=["a.py"], queue="default", worker="w1"
)
RESULTS = {
    "start": StartResult(job_id="j1", job_status=JobStatus.queued, queue="default"),
    "get": VIEW,
    "tail": TailResult(job_id="j1", job_status=JobStatus.running, lines=["one", "two"], cursor="1-0"),
    "wait": VIEW,
    "cancel": CancelResult(job_id="j1", job_status=JobStatus.cancelled),
    "list_jobs": JobList(jobs=[JobRow(job_id="j1", job_status=JobStatus.failed, queue="q", created_at=1.5)]),
}


async def test_successful_calls_return_the_service_result():
    service = FakeService(RESULTS)
    async with Client(build_server(service)) as client:
        for tool, arguments in CALLS:
            result = await client.call_tool(tool, arguments)
            assert result.is_error is False, tool
            assert result.structured_content == RESULTS[tool].model_dump(mode="json"), tool


async def test_arguments_reach_the_service():
    service = FakeService(RESULTS)
    async with Client(build_server(service)) as client:
        await client.call_tool("tail", {"job_id": "j9", "lines": 7, "cursor": "5-1"})
        await client.call_tool("wait", {"job_id": "j9"})
        await client.call_tool("list_jobs", {"status": "running", "limit": 4})
    assert service.calls == [
        ("tail", ("j9", 7, "5-1")),
        ("wait", ("j9", None)),
        ("list_jobs", (JobStatus.running, 4)),
    ]


def _typed(schema: dict, defs: dict) -> bool:
    """A JSON schema that says what type of value it takes (directly, by enum, by $ref, or every anyOf
    branch)."""
    if "$ref" in schema:
        return _typed(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return bool(schema["anyOf"]) and all(_typed(s, defs) for s in schema["anyOf"])
    return "type" in schema or "enum" in schema


async def test_every_tool_and_parameter_is_typed_and_described():
    async with Client(build_server(FakeService())) as client:
        tools = (await client.list_tools()).tools
    assert {"start", "get", "tail", "wait", "cancel", "list_jobs"} <= {t.name for t in tools}
    for tool in tools:
        assert tool.description and tool.description.strip(), tool.name
        schema = tool.input_schema
        assert schema["type"] == "object"
        assert schema["properties"], tool.name
        for name, prop in schema["properties"].items():
            assert prop.get("description", "").strip(), f"{tool.name}.{name} has no description"
            assert _typed(prop, schema.get("$defs", {})), f"{tool.name}.{name} has no type"
