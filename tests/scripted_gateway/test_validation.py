"""Strict request validation: what a real OpenAI-compatible provider rejects is a 400 here."""

import copy
import json

import pytest

from .support import CLIENT, post

BASH_TOOL = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "Run a command",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}
READ_TOOL = {
    "type": "function",
    "function": {"name": "Read", "parameters": {"type": "object", "properties": {}}},
}


def valid_body() -> dict:
    """A rich request of the kind the adapter sends mid-conversation (fresh copy each call)."""
    return copy.deepcopy(
        {
            "model": "deepseek-chat",
            "messages": [
                {"role": "system", "content": "You are Claude Code."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "[[scenario:v]] list files"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": "Listing.",
                    "reasoning_content": "ls it",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
                        },
                        {"id": "call_b", "type": "function", "function": {"name": "Read", "arguments": "{}"}},
                    ],
                },
                {"role": "tool", "tool_call_id": "call_b", "content": "read ok"},
                {"role": "tool", "tool_call_id": "call_a", "content": [{"type": "text", "text": "a.txt"}]},
                {"role": "user", "content": "thanks"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 8192,
            "temperature": 1,
            "top_p": 0.9,
            "stop": ["</x>"],
            "tools": [BASH_TOOL, READ_TOOL],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "user": "worker-1",
            "seed": 7,
            "reasoning_effort": "high",
        }
    )


@pytest.fixture
def gw(scripted_gateway):
    scripted_gateway.add_scenario({"name": "v", "turns": [{"text": "t0"}, {"text": "accepted"}]})
    return scripted_gateway


def test_valid_rich_request_is_accepted(gw):
    body = valid_body()
    body["stream"] = False
    del body["stream_options"]
    r = post(gw, body)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "accepted"


def _set(path: str, value):
    def mutate(body: dict) -> None:
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return mutate


_DELETE = object()


def _insert_message(index: int, message: dict):
    return lambda body: body["messages"].insert(index, message)


def _append_message(message: dict):
    return lambda body: body["messages"].append(message)


CALL = lambda i, args="{}": {"id": i, "type": "function", "function": {"name": "Bash", "arguments": args}}  # noqa: E731

# (id, mutation of valid_body(), substring expected in error.message)
REJECTIONS = [
    ("thinking", _set("thinking", {"type": "enabled", "budget_tokens": 1024}), "thinking"),
    ("metadata", _set("metadata", {"user_id": "u"}), "metadata"),
    ("system-top-level", _set("system", "be nice"), "system"),
    ("context_management", _set("context_management", {}), "context_management"),
    ("output_config", _set("output_config", {}), "output_config"),
    (
        "cache-control-in-part",
        _set("messages.1.content.0.cache_control", {"type": "ephemeral"}),
        "cache_control",
    ),
    ("cache-control-in-tool", _set("tools.0.cache_control", {"type": "ephemeral"}), "cache_control"),
    ("cache-control-in-message", _set("messages.0.cache_control", {"type": "ephemeral"}), "cache_control"),
    ("model-missing", _set("model", _DELETE), "model"),
    ("model-empty", _set("model", ""), "model"),
    ("messages-empty", _set("messages", []), "messages"),
    ("messages-not-list", _set("messages", "hi"), "messages"),
    ("bad-role", _set("messages.5.role", "human"), "role"),
    ("unknown-message-key", _set("messages.5.type", "message"), "type"),
    ("content-wrong-type", _set("messages.5.content", {"text": "x"}), "content"),
    ("content-empty-list", _set("messages.5.content", []), "content"),
    ("anthropic-image-part", _set("messages.1.content.1", {"type": "image", "source": {}}), "'image'"),
    (
        "anthropic-tool-result-part",
        _set("messages.5.content", [{"type": "tool_result", "tool_use_id": "x"}]),
        "tool_result",
    ),
    (
        "image-in-system",
        _set("messages.0.content", [{"type": "image_url", "image_url": {"url": "u"}}]),
        "not allowed in 'system'",
    ),
    (
        "file-in-assistant",
        _set("messages.2.content", [{"type": "file", "file": {"file_id": "f"}}]),
        "not allowed in 'assistant'",
    ),
    ("text-part-without-text", _set("messages.1.content.0", {"type": "text"}), "text"),
    (
        "assistant-without-content-or-calls",
        _append_message({"role": "assistant", "content": None}),
        "content' or 'tool_calls",
    ),
    (
        "tool-call-missing-id",
        _set(
            "messages.2.tool_calls.0", {"type": "function", "function": {"name": "Bash", "arguments": "{}"}}
        ),
        "tool_calls[0]",
    ),
    ("tool-call-wrong-type", _set("messages.2.tool_calls.0.type", "tool_use"), "type"),
    (
        "tool-call-arguments-dict",
        _set("messages.2.tool_calls.0.function.arguments", {"command": "ls"}),
        "arguments",
    ),
    (
        "tool-call-arguments-not-json",
        _set("messages.2.tool_calls.0.function.arguments", '{"command": '),
        "not valid JSON",
    ),
    (
        "tool-call-arguments-json-array",
        _set("messages.2.tool_calls.0.function.arguments", "[1]"),
        "JSON object",
    ),
    ("tool-calls-empty", _set("messages.2.tool_calls", []), "tool_calls"),
    (
        "tool-message-without-preceding-call",
        _insert_message(1, {"role": "tool", "tool_call_id": "call_z", "content": "x"}),
        "preceding",
    ),
    (
        "tool-message-after-user",
        _append_message({"role": "tool", "tool_call_id": "call_a", "content": "x"}),
        "preceding",
    ),
    ("tool-message-wrong-id", _set("messages.3.tool_call_id", "call_zzz"), "call_zzz"),
    ("tool-message-missing-id", _set("messages.3.tool_call_id", _DELETE), "tool_call_id"),
    (
        "tool-answered-twice",
        _insert_message(4, {"role": "tool", "tool_call_id": "call_b", "content": "again"}),
        "already answered",
    ),
    ("unanswered-tool-call", lambda b: b["messages"].pop(4), "call_a"),
    (
        "unanswered-tool-call-at-end",
        _append_message({"role": "assistant", "content": None, "tool_calls": [CALL("call_end")]}),
        "call_end",
    ),
    (
        "duplicate-tool-call-id",
        _append_message({"role": "assistant", "content": None, "tool_calls": [CALL("call_a")]}),
        "call_a",
    ),
    ("max-tokens-over-cap", _set("max_tokens", 8193), "[1, 8192]"),
    ("max-tokens-zero", _set("max_tokens", 0), "max_tokens"),
    ("max-tokens-bool", _set("max_tokens", True), "max_tokens"),
    (
        "max-completion-tokens-over-cap",
        lambda b: b.update(max_tokens=None, max_completion_tokens=9000),
        "max_completion_tokens",
    ),
    ("both-max-tokens", _set("max_completion_tokens", 100), "at the same time"),
    ("temperature-high", _set("temperature", 2.5), "temperature"),
    ("temperature-string", _set("temperature", "1"), "temperature"),
    ("top-p-high", _set("top_p", 1.5), "top_p"),
    ("n-two", _set("n", 2), "n=1"),
    ("stop-too-many", _set("stop", [f"s{i}" for i in range(17)]), "at most 16"),
    ("stop-not-strings", _set("stop", ["a", 1]), "stop"),
    ("stream-not-bool", _set("stream", "yes"), "stream"),
    ("stream-options-without-stream", _set("stream", False), "only allowed when 'stream' is enabled"),
    (
        "stream-options-unknown",
        _set("stream_options", {"include_usage": True, "continuous_usage_stats": True}),
        "continuous_usage_stats",
    ),
    ("tools-empty", _set("tools", []), "tools"),
    (
        "tool-anthropic-shape",
        _set("tools.0", {"name": "Bash", "input_schema": {"type": "object"}}),
        "tools[0]",
    ),
    ("tool-bad-name-space", _set("tools.0.function.name", "run bash"), "does not match"),
    ("tool-bad-name-long", _set("tools.0.function.name", "x" * 65), "does not match"),
    ("tool-bad-name-dot", _set("tools.0.function.name", "mcp.server.tool"), "does not match"),
    ("tool-duplicate-name", _set("tools.1", BASH_TOOL), "Duplicate tool name"),
    ("tool-unknown-function-key", _set("tools.0.function.input_schema", {}), "input_schema"),
    (
        "tool-schema-key-top",
        _set("tools.0.function.parameters.$schema", "http://json-schema.org/draft-07/schema#"),
        "$schema",
    ),
    (
        "tool-schema-key-nested",
        _set("tools.0.function.parameters.properties.command.$schema", "x"),
        "$schema",
    ),
    ("tool-parameters-not-object-schema", _set("tools.0.function.parameters", {"type": "string"}), "object"),
    ("tool-choice-unknown-string", _set("tool_choice", "any"), "tool_choice"),
    ("tool-choice-anthropic-shape", _set("tool_choice", {"type": "tool", "name": "Bash"}), "tool_choice"),
    (
        "tool-choice-undeclared",
        _set("tool_choice", {"type": "function", "function": {"name": "Write"}}),
        "Write",
    ),
    ("tool-choice-without-tools", lambda b: b.update(tools=None), "only allowed when 'tools'"),
    (
        "parallel-tool-calls-without-tools",
        lambda b: b.update(tools=None, tool_choice=None),
        "parallel_tool_calls",
    ),
    ("top-logprobs-without-logprobs", _set("top_logprobs", 3), "logprobs"),
    ("reasoning-effort-unknown", _set("reasoning_effort", "max"), "reasoning_effort"),
    ("response-format-bad", _set("response_format", {"type": "xml"}), "response_format"),
]


@pytest.mark.parametrize("mutate,needle", [pytest.param(m, n, id=i) for i, m, n in REJECTIONS])
def test_invalid_request_is_rejected(gw, mutate, needle):
    body = valid_body()
    mutate(body)
    r = post(gw, body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert needle in error["message"]
    (entry,) = gw.requests()
    assert entry["status"] == 400 and entry["error"] == error["message"]


def test_base_body_is_valid_and_never_mutated_by_the_table(gw):
    # Guards the table: the base body must pass, so each 400 above is caused by its own mutation.
    for _, mutate, _ in REJECTIONS:
        mutate(valid_body())
    assert post(gw, valid_body()).status_code == 200


def test_body_must_be_a_json_object(gw):
    r = CLIENT.post(
        gw.url + "/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "parse the JSON" in r.json()["error"]["message"]
    assert gw.requests()[0]["body"] == "{not json"
    assert post(gw, [valid_body()]).status_code == 400


def test_max_output_tokens_is_configurable(gw):
    body = valid_body()
    gw.configure(max_output_tokens=4096)
    r = post(gw, body)
    assert r.status_code == 400 and "[1, 4096]" in r.json()["error"]["message"]
    assert r.json()["error"]["param"] == "max_tokens"
    body["max_tokens"] = 4096
    assert post(gw, body).status_code == 200


def test_unknown_key_error_names_the_key(gw):
    body = valid_body()
    body["thinking"] = {"type": "enabled"}
    error = post(gw, body).json()["error"]
    assert error["param"] == "thinking"
    assert error["message"] == "Unrecognized request argument supplied: thinking"


def test_null_optional_fields_are_accepted(gw):
    body = valid_body()
    body.update(temperature=None, stop=None, seed=None, user=None, tool_choice=None)
    body["messages"][2]["content"] = None  # assistant with tool_calls only
    assert post(gw, body).status_code == 200


def test_tool_call_arguments_must_roundtrip_as_sent(gw):
    body = valid_body()
    arguments = json.loads(body["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"command": "ls"}
    assert post(gw, body).status_code == 200
