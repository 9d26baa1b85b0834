"""Reasoning in translation: sealed into thinking signatures on the way out, handed back on the way in.

The stream helpers come from the stream tests; the profile's thinking switch is checked on the request.
"""

import functools
import logging

import pytest

from adapter.providers import PROFILES
from adapter.reasoning_seal import CarriedReasoning, ReasoningSeal
from adapter.translate.context import ResponseContext
from adapter.translate.request import UpstreamTarget, to_openai
from adapter.translate.response import to_anthropic_message
from adapter.wire.anthropic_request import MessagesRequest
from tests.adapter.test_translate_stream import accumulate, delta_chunk, finish_chunk, parse_sse, run

SEAL = ReasoningSeal(b"s" * 32)
DEEPSEEK = UpstreamTarget(
    model="deepseek-v4-flash", max_output_tokens=8192, profile=PROFILES["deepseek"], seal=SEAL
)
CONTEXT = ResponseContext(
    request_model="claude-sonnet-4-5", seal_reasoning=functools.partial(SEAL.seal, "deepseek")
)


def call(tool_id: str) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": "a.py"}}


def result(tool_id: str) -> dict:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": "ok"}


def translated(messages: list[dict], target: UpstreamTarget = DEEPSEEK, **fields) -> dict:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": messages, **fields}
    return to_openai(MessagesRequest.model_validate(body), target).payload


def thinking(text: str, signature: str) -> dict:
    return {"type": "thinking", "thinking": text, "signature": signature}


def assistant_messages(payload: dict) -> list[dict]:
    return [m for m in payload["messages"] if m["role"] == "assistant"]


def test_sealed_reasoning_goes_back_on_its_tool_call_message_exactly_as_received():
    signature = SEAL.seal("deepseek", CarriedReasoning("reasoning_content", "Plan: read a.py."))
    payload = translated(
        [
            {"role": "user", "content": "go"},
            # The client may show or trim the text; what goes back is what the provider sent.
            {"role": "assistant", "content": [thinking("", signature), call("t1")]},
            {"role": "user", "content": [result("t1")]},
        ]
    )
    [message] = assistant_messages(payload)
    assert message["reasoning_content"] == "Plan: read a.py." and message["tool_calls"][0]["id"] == "t1"


def test_several_thinking_blocks_of_one_turn_go_back_in_order():
    first, second = (
        SEAL.seal("deepseek", CarriedReasoning("reasoning_content", text)) for text in ("one ", "two")
    )
    payload = translated(
        [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    thinking("one ", first),
                    {"type": "text", "text": "x"},
                    thinking("two", second),
                    call("t1"),
                ],
            },
            {"role": "user", "content": [result("t1")]},
        ]
    )
    assert assistant_messages(payload)[0]["reasoning_content"] == "one two"


@pytest.mark.parametrize(
    "signature",
    [
        SEAL.seal("deepseek", CarriedReasoning("reasoning_content", "plan"))[:-3] + "AAA",  # tampered
        ReasoningSeal(b"x" * 32).seal(
            "deepseek", CarriedReasoning("reasoning_content", "plan")
        ),  # another adapter's key
        SEAL.seal("kimi", CarriedReasoning("reasoning_content", "plan")),  # another provider profile
        "EqMBCkYIBxABGAIqQ…",  # a real Anthropic signature
        "",
    ],
    ids=["tampered", "other-key", "other-profile", "anthropic", "empty"],
)
def test_a_thinking_block_without_a_valid_seal_is_never_forwarded(signature, caplog):
    with caplog.at_level(logging.INFO, logger="codex_farm.adapter"):
        payload = translated(
            [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [thinking("plan", signature), call("t1")]},
                {"role": "user", "content": [result("t1")]},
            ]
        )
    [message] = assistant_messages(payload)
    assert "reasoning_content" not in message and message["tool_calls"]
    assert "plan" not in caplog.text


def test_vllm_reasoning_goes_back_in_the_reasoning_field():
    target = UpstreamTarget(model="m", max_output_tokens=8192, profile=PROFILES["vllm"], seal=SEAL)
    payload = translated(
        [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [thinking("p", SEAL.seal("vllm", CarriedReasoning("reasoning", "p"))), call("t1")],
            },
            {"role": "user", "content": [result("t1")]},
        ],
        target,
    )
    assert assistant_messages(payload)[0]["reasoning"] == "p"


def test_claude_codes_adaptive_thinking_and_effort_become_deepseeks_switch():
    payload = translated(
        [{"role": "user", "content": "go"}],
        thinking={"type": "adaptive", "display": "omitted"},
        output_config={"effort": "medium"},
    )
    assert payload["thinking"] == {"type": "enabled"} and payload["reasoning_effort"] == "high"
    assert "output_config" not in payload


def test_the_model_map_can_turn_thinking_off_whatever_the_client_asks():
    target = UpstreamTarget(
        model="deepseek-v4-flash",
        max_output_tokens=8192,
        profile=PROFILES["deepseek"],
        thinking="off",
        seal=SEAL,
    )
    payload = translated(
        [{"role": "user", "content": "go"}],
        target,
        thinking={"type": "adaptive"},
        output_config={"effort": "max"},
    )
    assert payload["thinking"] == {"type": "disabled"} and "reasoning_effort" not in payload


def test_a_silent_client_leaves_the_providers_default_and_generic_sends_no_thinking_field():
    assert "thinking" not in translated([{"role": "user", "content": "go"}])
    generic = UpstreamTarget(model="m", max_output_tokens=8192, seal=SEAL)
    payload = translated([{"role": "user", "content": "go"}], generic, thinking={"type": "adaptive"})
    assert not {"thinking", "reasoning_effort", "enable_thinking", "chat_template_kwargs"} & set(payload)


def test_a_complete_answer_seals_its_reasoning_into_the_thinking_signature():
    completion = {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "deepseek-v4-flash",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi", "reasoning_content": "Why: x."},
            }
        ],
    }
    block = to_anthropic_message(completion, CONTEXT, "msg_1").content[0]
    assert block.type == "thinking" and SEAL.open(block.signature, "deepseek").text == "Why: x."


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_a_stream_sends_the_seal_as_a_signature_delta_before_the_thinking_block_stops(field):
    chunks = [
        delta_chunk(**{field: "Plan "}),
        delta_chunk(**{field: "it."}),
        delta_chunk(content="Done."),
        finish_chunk("stop"),
    ]
    data, _ = run(chunks, CONTEXT)
    events = parse_sse(data)
    kinds = [(name, body.get("delta", {}).get("type")) for name, body in events if body.get("index") == 0]
    assert kinds[-2:] == [("content_block_delta", "signature_delta"), ("content_block_stop", None)]
    thinking_block = accumulate(events)["content"][0]
    assert SEAL.open(thinking_block["signature"], "deepseek").text == "Plan it." == thinking_block["thinking"]
    assert SEAL.open(thinking_block["signature"], "deepseek").field == field


GEMINI_CONTEXT = ResponseContext(
    request_model="claude-sonnet-4-5", seal_reasoning=functools.partial(SEAL.seal, "gemini")
)
GEMINI = UpstreamTarget(
    model="gemini-3-flash-preview", max_output_tokens=8192, profile=PROFILES["gemini"], seal=SEAL
)
OPENROUTER_CONTEXT = ResponseContext(
    request_model="claude-sonnet-4-5", seal_reasoning=functools.partial(SEAL.seal, "openrouter")
)
OPENROUTER = UpstreamTarget(
    model="google/gemini-3-pro", max_output_tokens=8192, profile=PROFILES["openrouter"], seal=SEAL
)
THOUGHT = {"google": {"thought_signature": "CrICAdHtim827fQ=="}}
DETAILS = [
    {
        "type": "reasoning.text",
        "text": "Read a.py first.",
        "signature": None,
        "id": "r1",
        "format": "unknown",
        "index": 0,
    },
    {"type": "reasoning.encrypted", "data": "ZW5j", "id": "call_1", "format": "google-gemini-v1", "index": 1},
]


def gemini_call_chunk(call_id: str, extra: dict | None) -> dict:
    call = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": "Read", "arguments": '{"file_path":"a.py"}'},
    }
    if extra is not None:
        call["extra_content"] = extra
    return delta_chunk(tool_calls=[call])


def test_a_gemini_thought_signature_without_visible_reasoning_gets_an_empty_thinking_block_before_its_call():
    data, _ = run(
        [delta_chunk(content="Reading."), gemini_call_chunk("call_g1", THOUGHT), finish_chunk("tool_calls")],
        GEMINI_CONTEXT,
    )
    blocks = accumulate(parse_sse(data))["content"]
    assert [b["type"] for b in blocks] == ["text", "thinking", "tool_use"]
    carried = SEAL.open(blocks[1]["signature"], "gemini")
    assert blocks[1]["thinking"] == "" and carried.call_extras == {"call_g1": THOUGHT}


def test_a_gemini_call_signature_is_sealed_with_the_reasoning_streamed_before_it():
    chunks = [
        delta_chunk(reasoning_content="Plan."),
        gemini_call_chunk("", THOUGHT),
        finish_chunk("tool_calls"),
    ]
    data, _ = run(chunks, GEMINI_CONTEXT)
    thinking_block, tool_use = accumulate(parse_sse(data))["content"]
    # The call came without an id: the one the client sees is the key the signature comes back under.
    assert SEAL.open(thinking_block["signature"], "gemini").call_extras == {tool_use["id"]: THOUGHT}


def test_a_complete_gemini_answer_carries_each_calls_extra_content():
    completion = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "Read", "arguments": "{}"},
                            "extra_content": THOUGHT,
                        },
                        {"id": "c2", "type": "function", "function": {"name": "Read", "arguments": "{}"}},
                    ],
                },
            }
        ]
    }
    thinking_block, *calls = to_anthropic_message(completion, GEMINI_CONTEXT, "msg_1").content
    assert thinking_block.thinking == "" and [c.id for c in calls] == ["c1", "c2"]
    assert SEAL.open(thinking_block.signature, "gemini").call_extras == {"c1": THOUGHT}


def test_the_thought_signature_goes_back_on_its_own_call_and_no_other():
    signature = SEAL.seal("gemini", CarriedReasoning("reasoning_content", "", call_extras={"c1": THOUGHT}))
    payload = translated(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [thinking("", signature), call("c1"), call("c2")]},
            {"role": "user", "content": [result("c1"), result("c2")]},
        ],
        GEMINI,
    )
    [message] = assistant_messages(payload)
    assert [c.get("extra_content") for c in message["tool_calls"]] == [THOUGHT, None]
    assert "reasoning_content" not in message  # no text came, none is sent


def test_streamed_reasoning_details_are_merged_by_index_and_go_back_unmodified():
    text = DETAILS[0]
    fragments = [
        delta_chunk(reasoning="Read a.py ", reasoning_details=[{**text, "text": "Read a.py "}]),
        delta_chunk(
            reasoning="first.", reasoning_details=[{"type": "reasoning.text", "text": "first.", "index": 0}]
        ),
        delta_chunk(reasoning_details=[DETAILS[1]]),
        gemini_call_chunk("call_1", None),
        finish_chunk("tool_calls"),
    ]
    data, _ = run(fragments, OPENROUTER_CONTEXT)
    thinking_block, tool_use = accumulate(parse_sse(data))["content"]
    carried = SEAL.open(thinking_block["signature"], "openrouter")
    assert (
        list(carried.details) == DETAILS
        and carried.text == "Read a.py first."
        and carried.field == "reasoning"
    )

    payload = translated(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [thinking_block, tool_use]},
            {"role": "user", "content": [result(tool_use["id"])]},
        ],
        OPENROUTER,
    )
    [message] = assistant_messages(payload)
    assert message["reasoning_details"] == DETAILS and message["reasoning"] == "Read a.py first."


def test_malformed_provider_state_is_dropped_not_fatal():
    completion = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "ok",
                    "reasoning_details": ["junk", {"type": "reasoning.text", "text": "t"}],
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "Read", "arguments": "{}"},
                            "extra_content": "junk",
                        }
                    ],
                },
            }
        ]
    }
    thinking_block = to_anthropic_message(completion, OPENROUTER_CONTEXT, "msg_1").content[0]
    carried = SEAL.open(thinking_block.signature, "openrouter")
    assert carried.details == ({"type": "reasoning.text", "text": "t"},) and carried.call_extras == {}


def test_without_a_seal_no_empty_thinking_block_is_invented():
    data, _ = run(
        [gemini_call_chunk("call_g1", THOUGHT), finish_chunk("tool_calls")],
        ResponseContext(request_model="m"),
    )
    assert [b["type"] for b in accumulate(parse_sse(data))["content"]] == ["tool_use"]
