"""Property tests: any well-typed Anthropic request translates into a valid upstream request."""

import copy
import re

from hypothesis import given
from hypothesis import strategies as st

from adapter import json_codec
from adapter.translate.request import UpstreamTarget, to_openai
from adapter.translate.tool_schema import clean_schema
from adapter.wire.anthropic_request import MessagesRequest
from adapter.wire.openai_request import ChatRequest
from tests.fixtures.anthropic_strategies import json_values, requests, schemas
from tests.fixtures.hypothesis_profiles import fuzz_settings

OPENAI_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
FUZZ = fuzz_settings(300)  # HYPOTHESIS_PROFILE=deep: 5000 random examples per test


def check_invariants(body: dict, translated, cap: int, original_names: set[str]) -> None:
    messages = body["messages"]
    roles = [m["role"] for m in messages]

    # Only the first message may be a system message.
    assert "system" not in roles[1:]

    # Roles alternate between user and assistant turns (tool messages are never merged).
    for before, after in zip(roles, roles[1:]):
        assert not (before == after and before in ("user", "assistant")), roles

    call_ids: list[str] = []
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "user":
            assert message["content"], message
        elif role == "assistant":
            assert message.get("content") or message.get("tool_calls"), message
            calls = message.get("tool_calls", [])
            ids = [c["id"] for c in calls]
            call_ids.extend(ids)
            # Every call is answered by the tool messages that directly follow.
            following = messages[index + 1 : index + 1 + len(calls)]
            assert [m["role"] for m in following] == ["tool"] * len(calls)
            assert sorted(m["tool_call_id"] for m in following) == sorted(ids)
            if index + 1 + len(calls) < len(messages):
                assert messages[index + 1 + len(calls)]["role"] != "tool"
            for c in calls:
                assert OPENAI_NAME.fullmatch(c["function"]["name"])
                assert translated.context.original_tool_name(c["function"]["name"]) in original_names
        elif role == "tool":
            assert message["content"]
            # Every tool message answers a call of the preceding assistant message.
            back = index - 1
            while messages[back]["role"] == "tool":
                back -= 1
            owner = messages[back]
            assert owner["role"] == "assistant"
            assert message["tool_call_id"] in {c["id"] for c in owner.get("tool_calls", [])}
    assert len(call_ids) == len(set(call_ids))

    tool_names = [t["function"]["name"] for t in body.get("tools", [])]
    assert len(tool_names) == len(set(tool_names))
    for tool in body.get("tools", []):
        assert OPENAI_NAME.fullmatch(tool["function"]["name"])
        params = tool["function"]["parameters"]
        assert params["type"] == "object" and isinstance(params["properties"], dict)
    if "tool_choice" in body:
        assert tool_names
        choice = body["tool_choice"]
        if isinstance(choice, dict):
            assert choice["function"]["name"] in tool_names
    if "parallel_tool_calls" in body:
        assert tool_names

    assert 1 <= body["max_tokens"] <= cap
    for upstream, original in translated.context.tool_names.items():
        assert OPENAI_NAME.fullmatch(upstream)
        assert upstream != original


@FUZZ
@given(requests(), st.integers(1, 200_000))
def test_any_request_translates_to_a_valid_upstream_request(raw, cap):
    parsed = MessagesRequest.model_validate(raw)
    translated = to_openai(parsed, UpstreamTarget(model="up", max_output_tokens=cap))
    body = translated.body.model_dump(exclude_none=True)

    assert body["model"] == "up"
    assert body["max_tokens"] == min(raw["max_tokens"], cap)
    original_names = {t["name"] for t in raw.get("tools", [])} | {
        block["name"]
        for m in raw["messages"]
        if isinstance(m["content"], list)
        for block in m["content"]
        if block.get("type") == "tool_use"
    }
    check_invariants(body, translated, cap, original_names)
    assert translated.context.request_model == raw["model"]
    # What is sent (the payload dict) is exactly the canonical upstream model, and JSON-encodable.
    assert translated.payload == body
    assert ChatRequest.model_validate(body).model_dump(exclude_none=True) == body
    json_codec.dumps(translated.payload)


@FUZZ
@given(schemas | st.none() | json_values)
def test_clean_schema_never_mutates_and_yields_object(schema):
    before = copy.deepcopy(schema)
    cleaned = clean_schema(schema)
    assert schema == before
    assert cleaned["type"] == "object" and isinstance(cleaned["properties"], dict)
    for name in cleaned.get("required", []):
        assert name in cleaned["properties"]
