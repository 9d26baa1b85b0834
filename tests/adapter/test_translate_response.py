import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.translate.context import ResponseContext
from adapter.translate.response import (
    RAW_ARGUMENTS_KEY,
    completion_suffix,
    parse_tool_arguments,
    repair_json_object,
    to_anthropic_message,
)
from adapter.wire.anthropic_response import ErrorBody, Message
from adapter.wire.openai_response import ChatCompletion, ChatCompletionChunk

CTX = ResponseContext(
    request_model="claude-sonnet-4-5",
    tool_names={"mcp__fs__read_file": "mcp__fs__read-file", "Bash": "Bash"},
    stop_sequences=("STOP",),
)
TOOLU = re.compile(r"^toolu_[0-9a-f]{24}$")


def completion(message: dict, finish_reason="stop", usage=None, **choice_extra) -> ChatCompletion:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "deepseek-chat",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish_reason,
                **choice_extra,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return ChatCompletion.model_validate(body)


def dump(message: Message) -> dict:
    return json.loads(message.model_dump_json())


def test_reasoning_text_and_two_tool_calls():
    c = completion(
        {
            "content": "I'll look at both.",
            "reasoning_content": "The user wants two files.",
            "tool_calls": [
                {
                    "id": "call_0_a",
                    "type": "function",
                    "function": {"name": "mcp__fs__read_file", "arguments": '{"path": "a.py"}'},
                },
                {
                    "id": "call_1_b",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command": "ls -la", "timeout": 5}'},
                },
            ],
        },
        finish_reason="tool_calls",
        usage={
            "prompt_tokens": 1200,
            "completion_tokens": 80,
            "prompt_cache_hit_tokens": 1024,
            "prompt_cache_miss_tokens": 176,
        },
    )
    message = to_anthropic_message(c, CTX, "msg_abc")
    assert dump(message) == {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "The user wants two files.", "signature": ""},
            {"type": "text", "text": "I'll look at both."},
            {"type": "tool_use", "id": "call_0_a", "name": "mcp__fs__read-file", "input": {"path": "a.py"}},
            {
                "type": "tool_use",
                "id": "call_1_b",
                "name": "Bash",
                "input": {"command": "ls -la", "timeout": 5},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 176,
            "output_tokens": 80,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1024,
        },
    }


def test_message_validates_against_anthropic_sdk():
    anthropic_types = pytest.importorskip("anthropic.types")
    c = completion(
        {
            "content": "hi",
            "reasoning_content": "hmm",
            "tool_calls": [{"id": "c1", "function": {"name": "Bash", "arguments": "{}"}}],
        },
        finish_reason="tool_calls",
        usage={"prompt_tokens": 5, "completion_tokens": 2},
    )
    parsed = anthropic_types.Message.model_validate(dump(to_anthropic_message(c, CTX, "msg_1")))
    assert [block.type for block in parsed.content] == ["thinking", "text", "tool_use"]
    assert parsed.stop_reason == "tool_use"


def test_plain_text_end_turn():
    message = to_anthropic_message(completion({"content": "Hello!"}), CTX, "msg_1")
    assert [b.model_dump() for b in message.content] == [{"type": "text", "text": "Hello!"}]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert message.usage.input_tokens == 0 and message.usage.output_tokens == 0


def test_vllm_matched_stop_sequence():
    message = to_anthropic_message(completion({"content": "done"}, stop_reason="STOP"), CTX, "msg_1")
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")


def test_vllm_stop_token_id_is_end_turn():
    message = to_anthropic_message(completion({"content": "done"}, stop_reason=151645), CTX, "msg_1")
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)


@pytest.mark.parametrize(
    ("finish_reason", "expected"),
    [("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn"), ("stop", "end_turn")],
)
def test_finish_reasons(finish_reason, expected):
    message = to_anthropic_message(completion({"content": "x"}, finish_reason=finish_reason), CTX, "m")
    assert message.stop_reason == expected


def test_tool_calls_with_stop_finish_reason_is_tool_use():
    c = completion(
        {"content": None, "tool_calls": [{"id": "c", "function": {"name": "Bash", "arguments": "{}"}}]}
    )
    message = to_anthropic_message(c, CTX, "m")
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["tool_use"]


@pytest.mark.parametrize(
    "message_fields",
    [
        {"content": None},
        {"content": ""},
        {"content": "  \n"},
        {"content": None, "reasoning_content": ""},
        {"content": None, "tool_calls": []},
    ],
)
def test_nothing_back_gives_one_empty_text_block(message_fields):
    message = to_anthropic_message(completion(message_fields), CTX, "m")
    assert [b.model_dump() for b in message.content] == [{"type": "text", "text": ""}]


def test_no_choices_gives_one_empty_text_block():
    c = ChatCompletion.model_validate(
        {"id": "x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0}}
    )
    message = to_anthropic_message(c, CTX, "m")
    assert [b.model_dump() for b in message.content] == [{"type": "text", "text": ""}]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 3


def test_whitespace_text_is_dropped_next_to_tool_calls():
    c = completion(
        {"content": "\n\n", "tool_calls": [{"id": "c", "function": {"name": "Bash", "arguments": ""}}]}
    )
    message = to_anthropic_message(c, CTX, "m")
    assert [b.model_dump() for b in message.content] == [
        {"type": "tool_use", "id": "c", "name": "Bash", "input": {}}
    ]


def test_missing_and_duplicate_tool_ids_are_generated():
    c = completion(
        {
            "tool_calls": [
                {"function": {"name": "Bash", "arguments": "{}"}},
                {"id": "same", "function": {"name": "Bash", "arguments": "{}"}},
                {"id": "same", "function": {"name": "Bash", "arguments": "{}"}},
                {"id": "", "function": {"name": "Bash", "arguments": "{}"}},
            ]
        },
        finish_reason="tool_calls",
    )
    ids = [b.id for b in to_anthropic_message(c, CTX, "m").content]
    assert TOOLU.match(ids[0])
    assert ids[1] == "same"
    assert TOOLU.match(ids[2])
    assert TOOLU.match(ids[3])
    assert len(set(ids)) == 4


def test_nameless_tool_call_is_dropped():
    c = completion(
        {"content": "ok", "tool_calls": [{"id": "c", "function": {"arguments": '{"a":1}'}}]},
        finish_reason="stop",
    )
    message = to_anthropic_message(c, CTX, "m")
    assert [b.type for b in message.content] == ["text"]
    assert message.stop_reason == "end_turn"


def test_legacy_function_call():
    c = completion(
        {"function_call": {"name": "Bash", "arguments": '{"command":"pwd"}'}}, finish_reason="function_call"
    )
    message = to_anthropic_message(c, CTX, "m")
    block = message.content[0]
    assert (block.type, block.name, block.input) == ("tool_use", "Bash", {"command": "pwd"})
    assert TOOLU.match(block.id)
    assert message.stop_reason == "tool_use"


def test_reasoning_field_alias_and_list_content():
    c = completion(
        {
            "reasoning": "via reasoning",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        }
    )
    message = to_anthropic_message(c, CTX, "m")
    assert [b.model_dump() for b in message.content] == [
        {"type": "thinking", "thinking": "via reasoning", "signature": ""},
        {"type": "text", "text": "ab"},
    ]


def test_accepts_plain_dict_and_ignores_unknown_fields():
    body = {
        "id": 123,
        "choices": [
            {"index": 1, "message": {"content": "second"}, "finish_reason": "stop"},
            {
                "index": 0,
                "message": {"content": "first", "annotations": []},
                "finish_reason": "length",
                "logprobs": None,
            },
        ],
        "usage": {"prompt_tokens": "9", "completion_tokens": None, "weird": {"x": 1}},
        "service_tier": "default",
    }
    message = to_anthropic_message(body, CTX, "m")
    assert message.content[0].text == "first"
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 0)


def test_null_message_and_refusal():
    c = ChatCompletion.model_validate({"choices": [{"index": 0, "message": None, "finish_reason": "stop"}]})
    assert [b.model_dump() for b in to_anthropic_message(c, CTX, "m").content] == [
        {"type": "text", "text": ""}
    ]
    c = completion({"content": None, "refusal": "I can't help with that."}, finish_reason="content_filter")
    message = to_anthropic_message(c, CTX, "m")
    assert message.content[0].text == "I can't help with that."
    assert message.stop_reason == "refusal"


# ----------------------------------------------------------------------------- arguments

ARGUMENT_CASES = [
    ("empty", "", {}),
    ("whitespace", "  \n\t", {}),
    ("none", None, {}),
    ("null_json", "null", {}),
    ("object", '{"a": 1, "b": [1, 2]}', {"a": 1, "b": [1, 2]}),
    ("padded", '  {"a": 1}\n', {"a": 1}),
    ("dict_input", {"already": "decoded"}, {"already": "decoded"}),
    ("double_encoded", json.dumps(json.dumps({"a": 1})), {"a": 1}),
    ("trailing_brace", '{"a": 1}}', {"a": 1}),
    ("trailing_junk", '{"command": "ls"}<|tool_call_end|>', {"command": "ls"}),
    ("leading_prose", 'Here: {"a": "b"}', {"a": "b"}),
    ("code_fence", '```json\n{"a": 2}\n```', {"a": 2}),
    ("trailing_comma", '{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
    ("missing_closing_brace", '{"a": {"b": 1}', {"a": {"b": 1}}),
    ("truncated_in_string", '{"path": "src/ma', {"path": "src/ma"}),
    ("truncated_after_escape", '{"text": "a\\', {"text": "a"}),
    ("truncated_in_unicode_escape", '{"text": "a\\u00', {"text": "a"}),
    ("truncated_after_comma", '{"a": 1, ', {"a": 1}),
    ("truncated_after_colon", '{"a": 1, "b": ', {"a": 1, "b": None}),
    ("truncated_key", '{"a": 1, "b', {"a": 1}),
    ("truncated_literal", '{"a": 1, "b": tru', {"a": 1}),
    (
        "truncated_nested",
        '{"edits": [{"old": "x", "new": "y"}, {"old": "z"',
        {"edits": [{"old": "x", "new": "y"}, {"old": "z"}]},
    ),
    ("not_json", "ls -la", {RAW_ARGUMENTS_KEY: "ls -la"}),
    ("array", "[1, 2]", {RAW_ARGUMENTS_KEY: "[1, 2]"}),
    ("number", "42", {RAW_ARGUMENTS_KEY: "42"}),
    ("plain_string", '"just text"', {RAW_ARGUMENTS_KEY: '"just text"'}),
    ("only_open_brace_key", '{"ab', {RAW_ARGUMENTS_KEY: '{"ab'}),
    ("python_literal", "{'a': 1}", {RAW_ARGUMENTS_KEY: "{'a': 1}"}),
    ("list_value", [1, 2], {RAW_ARGUMENTS_KEY: "[1, 2]"}),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [c[1:] for c in ARGUMENT_CASES], ids=[c[0] for c in ARGUMENT_CASES]
)
def test_parse_tool_arguments(raw, expected):
    assert parse_tool_arguments(raw) == expected


def test_bad_json_arguments_in_message_never_crash():
    c = completion(
        {
            "tool_calls": [
                {"id": "a", "function": {"name": "Bash", "arguments": '{"command": "echo hi"'}},
                {"id": "b", "function": {"name": "Bash", "arguments": "echo hi"}},
                {"id": "c", "function": {"name": "Bash", "arguments": '{"command": "pwd"}}}'}},
            ]
        },
        finish_reason="tool_calls",
    )
    inputs = [b.input for b in to_anthropic_message(c, CTX, "m").content]
    assert inputs == [{"command": "echo hi"}, {RAW_ARGUMENTS_KEY: "echo hi"}, {"command": "pwd"}]


def test_repair_returns_none_without_object():
    assert repair_json_object("no braces here") is None
    assert repair_json_object("") is None


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ('{"a": 1}', ""),
        ('{"a": "x', '"}'),
        ('{"a": [1, 2', "]}"),
        ('{"a": {"b": "c"', "}}"),
        ('{"a": ', "null}"),
        ('{"a": 1, "b"', ":null}"),
        ('{"a": "x\\', '\\"}'),
        ('{"a": "\\u00', '00"}'),
        ('{"a": 1}}', None),
        ("[1, 2", None),
        ("", None),
    ],
)
def test_completion_suffix(text, suffix):
    assert completion_suffix(text) == suffix
    if suffix is not None:
        assert isinstance(json.loads(text + suffix), dict)


# ----------------------------------------------------------------------------- wire models


def test_chunk_model_is_tolerant():
    chunk = ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "reasoning_content": "r",
                        "tool_calls": [
                            {"index": 1, "id": "x", "function": {"name": "Bash", "arguments": "{"}}
                        ],
                    },
                    "finish_reason": None,
                    "stop_reason": 7,
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": None}},
            "unknown": True,
        }
    )
    choice = chunk.choices[0]
    assert choice.delta.thinking_text == "r"
    assert choice.delta.tool_calls[0].index == 1
    assert choice.delta.tool_calls[0].function.arguments == "{"
    assert choice.stop_reason == 7
    assert chunk.usage.prompt_tokens == 1
    assert ChatCompletionChunk.model_validate({"choices": None}).choices == []


def test_error_body():
    assert json.loads(ErrorBody.of("overloaded_error", "busy").model_dump_json()) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "busy"},
    }


# ----------------------------------------------------------------------------- properties

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parse_tool_arguments_never_raises(text):
    assert isinstance(parse_tool_arguments(text), dict)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _values, max_size=4), st.data())
def test_truncated_objects_repair_to_objects(obj, data):
    text = json.dumps(obj, ensure_ascii=data.draw(st.booleans()))
    cut = data.draw(st.integers(1, len(text)))
    prefix = text[:cut]
    assert isinstance(parse_tool_arguments(prefix), dict)
    suffix = completion_suffix(prefix)
    if suffix is not None:
        assert isinstance(json.loads(prefix + suffix), dict)
    if cut == len(text):
        assert parse_tool_arguments(prefix) == obj
        assert suffix == ""
