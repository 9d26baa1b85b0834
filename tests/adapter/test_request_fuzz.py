"""Property tests: any well-typed Anthropic request translates into a valid upstream request."""

import copy
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.translate.request import UpstreamTarget, to_openai
from adapter.translate.tool_schema import clean_schema
from adapter.wire.anthropic_request import MessagesRequest
from adapter.wire.openai_request import ChatRequest

OPENAI_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

texts = st.text(max_size=30)
# A small id pool makes calls and results meet often; free text makes orphans.
ids = st.sampled_from(["t1", "t2", "t3", "toolu_01", ""]) | st.text(max_size=6)
names = st.sampled_from(
    ["Read", "Bash", "mcp.fs/read", "mcp_fs_read", "a b", "x" * 70, "x" * 71, "tool", ""]
) | st.text(max_size=80)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)

leaf_schemas = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["string", "integer", "number", "boolean", "null"])
        | st.lists(st.sampled_from(["string", "null"]), max_size=2),
        "description": texts,
        "format": st.sampled_from(["date-time", "regex", "uri", "hostname", "uuid"]),
        "$comment": texts,
        "exclusiveMinimum": st.integers(),
        "minimum": st.integers() | st.booleans(),
        "enum": st.lists(json_values, max_size=3),
        "default": json_values,
        "$ref": st.sampled_from(["#/$defs/A", "#", "#/nope", "other.json"]),
    },
)
schemas = st.recursive(
    leaf_schemas,
    lambda inner: st.fixed_dictionaries(
        {"type": st.just("object")},
        optional={
            "properties": st.dictionaries(texts, inner | st.booleans(), max_size=3),
            "required": st.lists(texts, max_size=3),
            "additionalProperties": st.booleans() | inner,
            "$schema": st.just("http://json-schema.org/draft-07/schema#"),
            "anyOf": st.lists(inner, min_size=1, max_size=2),
            "items": inner | st.lists(inner, max_size=2),
            "propertyNames": inner,
            "$defs": st.dictionaries(st.just("A"), inner, max_size=1),
            "defer_loading": st.booleans(),
        },
    ),
    max_leaves=8,
)

cache = st.sampled_from([{}, {"cache_control": {"type": "ephemeral"}}])
image_sources = st.sampled_from(
    [
        {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        {"type": "url", "url": "https://example.com/a.png"},
        {"type": "file", "file_id": "file_1"},
        {"type": "text", "data": "not an image source"},
    ]
)
document_sources = st.sampled_from(
    [
        {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
        {"type": "text", "media_type": "text/plain", "data": "plain"},
        {"type": "url", "url": "https://example.com/a.pdf"},
        {"type": "content", "content": [{"type": "text", "text": "inner"}]},
        {"type": "content", "content": ""},
        {"type": "file", "file_id": "file_2"},
    ]
)

text_blocks = st.builds(lambda t, c: {"type": "text", "text": t, **c}, texts, cache)
image_blocks = st.builds(lambda s: {"type": "image", "source": s}, image_sources)
document_blocks = st.builds(
    lambda s, title: {"type": "document", "source": s, **({"title": title} if title else {})},
    document_sources,
    st.none() | texts,
)
tool_use_blocks = st.builds(
    lambda i, n, a: {"type": "tool_use", "id": i, "name": n, "input": a},
    ids,
    names,
    st.dictionaries(texts, json_values, max_size=3),
)
result_items = (
    text_blocks
    | image_blocks
    | document_blocks
    | st.builds(lambda n: {"type": "tool_reference", "tool_name": n}, names)
    | st.just({"type": "search_result", "source": "s", "title": "t", "content": []})
)
tool_result_blocks = st.builds(
    lambda i, content, err, c: {
        "type": "tool_result",
        "tool_use_id": i,
        **({} if content is None else {"content": content}),
        **({} if err is None else {"is_error": err}),
        **c,
    },
    ids,
    st.none() | texts | st.lists(result_items, max_size=3),
    st.none() | st.booleans(),
    cache,
)
other_blocks = st.sampled_from(
    [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xxx"},
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"q": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []},
        {"type": "container_upload", "file_id": "f"},
    ]
)
any_blocks = (
    text_blocks | image_blocks | document_blocks | tool_use_blocks | tool_result_blocks | other_blocks
)


def message_for(role):
    if role == "assistant":
        blocks = st.lists(text_blocks | tool_use_blocks | other_blocks | any_blocks, max_size=5)
    elif role == "user":
        blocks = st.lists(tool_result_blocks | text_blocks | any_blocks, max_size=5)
    else:
        blocks = st.lists(text_blocks, max_size=2)
    return st.builds(lambda content: {"role": role, "content": content}, texts | blocks)




@st.composite
def exchanges(draw):
    """An assistant turn calling tools and a user turn answering some of them."""
    calls = draw(st.lists(tool_use_blocks, min_size=1, max_size=3))
    prefix = draw(st.lists(text_blocks | other_blocks, max_size=2))
    answered = draw(st.permutations([c["id"] for c in calls]))
    answered = answered[: draw(st.integers(0, len(answered)))]
    results = [
        {**draw(tool_result_blocks), "tool_use_id": call_id} for call_id in answered
    ]
    tail = draw(st.lists(text_blocks | image_blocks | tool_result_blocks, max_size=2))
    turns = [{"role": "assistant", "content": prefix + calls}]
    if draw(st.booleans()):
        turns.append({"role": "system", "content": draw(texts)})
    turns.append({"role": "user", "content": results + tail})
    return turns


single = st.sampled_from(["user", "assistant", "system"]).flatmap(message_for).map(lambda m: [m])
messages = st.lists(single | exchanges(), min_size=1, max_size=6).map(
    lambda groups: [m for group in groups for m in group]
)
tools = st.lists(
    st.builds(
        lambda n, d, s, extra: {"name": n, "input_schema": s, **d, **extra},
        names,
        st.sampled_from([{}, {"description": "does things"}]),
        schemas,
        st.sampled_from([{}, {"defer_loading": True}, {"cache_control": {"type": "ephemeral"}}]),
    )
    | st.sampled_from(
        [
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            {"type": "bash_20250124", "name": "bash"},
        ]
    ),
    max_size=4,
)
tool_choices = st.none() | st.builds(
    lambda kind, name, parallel: {
        "type": kind,
        **({"name": name} if kind == "tool" else {}),
        **({} if parallel is None else {"disable_parallel_tool_use": parallel}),
    },
    st.sampled_from(["auto", "any", "tool", "none"]),
    names,
    st.none() | st.booleans(),
)
systems = st.none() | texts | st.lists(
    text_blocks | st.just({"type": "text", "text": "x-anthropic-billing-header: cc_version=1"}),
    max_size=3,
)


@st.composite
def requests(draw):
    body = {
        "model": draw(st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-1", "x"])),
        "max_tokens": draw(st.integers(1, 300_000)),
        "messages": draw(messages),
    }
    optional = {
        "system": systems,
        "tools": tools,
        "tool_choice": tool_choices,
        "stream": st.booleans(),
        "stop_sequences": st.lists(texts, max_size=3),
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "top_k": st.integers(1, 500),
        "metadata": st.just({"user_id": "u"}),
        "thinking": st.just({"type": "enabled", "budget_tokens": 1024}),
        "context_management": st.just({"edits": []}),
        "output_config": st.just({"effort": "low"}),
    }
    for key, strategy in optional.items():
        value = draw(st.none() | strategy)
        if value is not None:
            body[key] = value
    return body


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
    # The dump is valid input for the upstream model again, and JSON-encodable.
    assert ChatRequest.model_validate(body).model_dump(exclude_none=True) == body
    translated.body.model_dump_json(exclude_none=True)


@FUZZ
@given(schemas | st.none() | json_values)
def test_clean_schema_never_mutates_and_yields_object(schema):
    before = copy.deepcopy(schema)
    cleaned = clean_schema(schema)
    assert schema == before
    assert cleaned["type"] == "object" and isinstance(cleaned["properties"], dict)
    for name in cleaned.get("required", []):
        assert name in cleaned["properties"]
