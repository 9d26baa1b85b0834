"""start's arguments are declared once, in StartArgs; the inputSchema and fan-out entries come from it."""

import pytest
from mcp import Client
from pydantic import ValidationError

from mcp_frontend.server import build_server
from mcp_frontend.start_args import JobEntry, StartArgs, StartRequest


class UntouchedService:
    def __getattr__(self, name: str):
        raise AttributeError(name)


async def test_the_start_tool_takes_the_request_fields_as_declared():
    async with Client(build_server(UntouchedService())) as client:
        [start] = [tool for tool in (await client.list_tools()).tools if tool.name == "start"]
    properties = start.input_schema["properties"]
    assert list(properties) == list(StartRequest.model_fields)
    described = {name: (schema["description"], schema.get("default")) for name, schema in properties.items()}
    assert described == {name: (f.description, f.default) for name, f in StartRequest.model_fields.items()}


def test_an_entry_has_every_field_of_a_job_optional_and_unset():
    assert list(JobEntry.model_fields) == list(StartArgs.model_fields)
    assert all(not field.is_required() and field.default is None for field in JobEntry.model_fields.values())
    assert JobEntry().model_fields_set == set()


@pytest.mark.parametrize(
    ("field", "value"), [("max_turns", 0), ("max_turns", 501), ("auto_revise", 4), ("apply", "now")]
)
def test_an_entry_keeps_the_bounds_of_its_field(field, value):
    for model in (StartArgs, JobEntry):
        with pytest.raises(ValidationError):
            model(**{field: value})


def test_an_entry_refuses_a_key_no_job_has():
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        JobEntry(colour="red")
