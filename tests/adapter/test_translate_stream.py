import json
import random
import re
from itertools import zip_longest

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.translate.context import ResponseContext
from adapter.translate.response import to_anthropic_message
from adapter.translate.stream import PING, StreamTranslator
from adapter.translate.usage import Usage
from adapter.wire.openai_response import ChatCompletion

CTX = ResponseContext(
    request_model="claude-sonnet-4-5",
    tool_names={"mcp__fs__read_file": "mcp__fs__read-file"},
    stop_sequences=("STOP",),
)
TOOLU = re.compile(r"^toolu_[0-9a-f]{24}$")


# ----------------------------------------------------------------------------- helpers


def parse_sse(data: bytes) -> list[tuple[str, dict]]:
    """SSE bytes -> [(event name, decoded data)], checking the framing strictly."""
    text = data.decode("utf-8")
    assert text == "" or text.endswith("\n\n"), text[-50:]
    events = []
    for raw in text.split("\n\n")[:-1]:
        lines = raw.split("\n")
        assert len(lines) == 2, raw
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), raw
        name, payload = lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])
        assert payload["type"] == name
        assert lines[1][len("data: ") :] == json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        events.append((name, payload))
    return events


def shape(events):
    """[(event, block index or None)] -- the sequence the tests pin down exactly."""
    return [(name, data.get("index")) for name, data in events]


def accumulate(events) -> dict:
    """Rebuild the message from events, asserting Anthropic's block discipline on the way."""
    assert events[0][0] == "message_start"
    message = events[0][1]["message"]
    assert message["content"] == []
    blocks, json_parts, open_index = [], {}, None
    for name, data in events[1:]:
        if name == "content_block_start":
            assert open_index is None, "a block was opened while another was open"
            assert data["index"] == len(blocks), "blocks must be numbered 0, 1, 2... in order"
            open_index = data["index"]
            blocks.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            assert data["index"] == open_index, "delta for a block that is not open"
            block, delta = blocks[open_index], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                assert block["type"] == "text"
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                assert block["type"] == "thinking"
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                assert block["type"] == "thinking"
                block["signature"] += delta["signature"]
            elif kind == "input_json_delta":
                assert block["type"] == "tool_use"
                json_parts.setdefault(open_index, []).append(delta["partial_json"])
            else:
                raise AssertionError(kind)
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        elif name == "message_delta":
            assert open_index is None
            message["stop_reason"] = data["delta"]["stop_reason"]
            message["stop_sequence"] = data["delta"]["stop_sequence"]
            message["usage"].update(data["usage"])
        elif name == "message_stop":
            assert open_index is None
        else:
            raise AssertionError(name)
    assert events[-1][0] == "message_stop"
    assert events[-2][0] == "message_delta"
    for index, parts in json_parts.items():
        blocks[index]["input"] = json.loads("".join(parts))
    message["content"] = blocks
    return message


def run(chunks, context=CTX, message_id="msg_test") -> tuple[bytes, StreamTranslator]:
    translator = StreamTranslator(context, message_id)
    data = translator.start()
    for chunk in chunks:
        data += translator.feed(chunk)
    data += translator.finish()
    return data, translator


def delta_chunk(**delta) -> dict:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def finish_chunk(reason, usage=None, **extra) -> dict:
    chunk = {"choices": [{"index": 0, "delta": {}, "finish_reason": reason, **extra}]}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def tool_delta(index, arguments=None, id=None, name=None) -> dict:
    call = {"index": index}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    function = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    call["function"] = function
    return delta_chunk(tool_calls=[call])


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def validate_with_sdk(events):
    anthropic_types = pytest.importorskip("anthropic.types")
    from pydantic import TypeAdapter

    adapter = TypeAdapter(anthropic_types.RawMessageStreamEvent)
    for _, data in events:
        adapter.validate_python(data)


# ----------------------------------------------------------------------------- main scenario

ARGS_A = {"path": "src/app.py", "limit": 200}
ARGS_B = {"command": "pytest -q tests/adapter", "timeout": 120000}
USAGE = {"prompt_tokens": 2000, "completion_tokens": 150, "prompt_tokens_details": {"cached_tokens": 1536}}


def interleaved_chunks():
    a_pieces = pieces(json.dumps(ARGS_A), 6)
    b_pieces = pieces(json.dumps(ARGS_B), 6)
    assert (len(a_pieces), len(b_pieces)) == (6, 10)
    chunks = [
        delta_chunk(role="assistant", content=""),
        delta_chunk(reasoning_content="The user wants"),
        delta_chunk(reasoning_content=" the tests run"),
        delta_chunk(reasoning_content=" and a file read."),
        delta_chunk(content="\n\n"),
        delta_chunk(content="Let me "),
        delta_chunk(content="check."),
        tool_delta(0, "", id="call_a", name="mcp__fs__read_file"),
        tool_delta(1, "", id="call_b", name="Bash"),
    ]
    for a, b in zip_longest(a_pieces, b_pieces):
        if a is not None:
            chunks.append(tool_delta(0, a))
        if b is not None:
            chunks.append(tool_delta(1, b))
    chunks.append(finish_chunk("tool_calls"))
    chunks.append({"id": "c", "choices": [], "usage": USAGE})
    return chunks


def test_reasoning_text_and_interleaved_parallel_tool_calls():
    data, translator = run(interleaved_chunks())
    events = parse_sse(data)
    delta, start, stop = "content_block_delta", "content_block_start", "content_block_stop"
    assert shape(events) == (
        [("message_start", None)]
        + [(start, 0)]
        + [(delta, 0)] * 3
        + [(stop, 0)]
        + [(start, 1)]
        + [(delta, 1)] * 2
        + [(stop, 1)]
        # call_a streams live; call_b's pieces wait while call_a's JSON is incomplete
        + [(start, 2)]
        + [(delta, 2)] * 6
        + [(stop, 2)]
        # call_b opens with its 5 buffered pieces in one delta, then its last 5 pieces live
        + [(start, 3)]
        + [(delta, 3)] * 6
        + [(stop, 3)]
        + [("message_delta", None), ("message_stop", None)]
    )
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[6][1]["content_block"] == {"type": "text", "text": ""}
    assert events[7][1]["delta"] == {"type": "text_delta", "text": "\n\nLet me "}
    assert events[10][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_a",
        "name": "mcp__fs__read-file",
        "input": {},
    }
    assert events[18][1]["content_block"] == {"type": "tool_use", "id": "call_b", "name": "Bash", "input": {}}
    assert events[19][1]["delta"]["partial_json"] == "".join(pieces(json.dumps(ARGS_B), 6)[:5])

    message = accumulate(events)
    assert message["content"] == [
        {"type": "thinking", "thinking": "The user wants the tests run and a file read.", "signature": ""},
        {"type": "text", "text": "\n\nLet me check."},
        {"type": "tool_use", "id": "call_a", "name": "mcp__fs__read-file", "input": ARGS_A},
        {"type": "tool_use", "id": "call_b", "name": "Bash", "input": ARGS_B},
    ]
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"input_tokens": 464, "output_tokens": 150, "cache_read_input_tokens": 1536},
    }
    assert translator.usage == Usage(input_tokens=464, output_tokens=150, cached_tokens=1536)
    assert translator.done
    validate_with_sdk(events)


def test_sequential_parallel_calls_stream_every_piece_live():
    chunks = [tool_delta(0, "", id="call_a", name="Read")]
    chunks += [tool_delta(0, p) for p in pieces(json.dumps(ARGS_A), 4)]
    chunks += [tool_delta(1, "", id="call_b", name="Bash")]
    chunks += [tool_delta(1, p) for p in pieces(json.dumps(ARGS_B), 4)]
    chunks.append(finish_chunk("tool_calls", usage=USAGE))
    translator = StreamTranslator(CTX, "m")
    events = parse_sse(translator.start())
    for chunk in chunks:
        batch = parse_sse(translator.feed(chunk))
        arguments = (
            chunk["choices"][0]["delta"].get("tool_calls", [{}])[0].get("function", {}).get("arguments")
        )
        if arguments:
            # Every argument piece is relayed by the feed() call that received it.
            assert batch[-1][1]["delta"] == {"type": "input_json_delta", "partial_json": arguments}
        events += batch
    events += parse_sse(translator.finish())
    message = accumulate(events)
    assert [b["input"] for b in message["content"]] == [ARGS_A, ARGS_B]
    assert message["stop_reason"] == "tool_use"


# ----------------------------------------------------------------------------- simple streams


def test_text_only_stream_end_turn():
    chunks = [
        delta_chunk(role="assistant", content=""),
        delta_chunk(content="Hel"),
        delta_chunk(content="lo "),
        delta_chunk(content="wörld ✓"),
    ]
    chunks.append(finish_chunk("stop", usage={"prompt_tokens": 12, "completion_tokens": 4}))
    data, _ = run(chunks)
    events = parse_sse(data)
    assert shape(events) == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert "wörld ✓".encode() in data  # ensure_ascii=False
    message = accumulate(events)
    assert message["content"] == [{"type": "text", "text": "Hello wörld ✓"}]
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)
    assert events[-2][1]["usage"] == {"input_tokens": 12, "output_tokens": 4, "cache_read_input_tokens": 0}
    validate_with_sdk(events)


def test_message_start_skeleton():
    translator = StreamTranslator(CTX, "msg_01")
    assert parse_sse(translator.start()) == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        )
    ]
    assert translator.start() == b""


def test_feed_before_start_sends_message_start_once():
    translator = StreamTranslator(CTX, "m")
    events = parse_sse(translator.feed(delta_chunk(content="x")))
    assert shape(events) == [("message_start", None), ("content_block_start", 0), ("content_block_delta", 0)]
    assert translator.start() == b""


def test_length_is_max_tokens():
    data, _ = run([delta_chunk(content="a long answer"), finish_chunk("length")])
    assert accumulate(parse_sse(data))["stop_reason"] == "max_tokens"


def test_truncated_tool_arguments_at_length_still_parse():
    chunks = [tool_delta(0, "", id="call_w", name="Write")]
    chunks += [tool_delta(0, p) for p in pieces('{"file_path": "a.txt", "content": "line one\\nline tw', 5)]
    chunks.append(finish_chunk("length"))
    data, _ = run(chunks)
    events = parse_sse(data)
    message = accumulate(events)
    assert message["stop_reason"] == "max_tokens"
    assert message["content"][0]["input"] == {"file_path": "a.txt", "content": "line one\nline tw"}
    assert events[-4][1]["delta"] == {"type": "input_json_delta", "partial_json": '"}'}


def test_vllm_stop_sequence_in_stream():
    data, _ = run([delta_chunk(content="answer"), finish_chunk("stop", stop_reason="STOP")])
    message = accumulate(parse_sse(data))
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "STOP")


def test_vllm_stop_token_id_in_stream_is_end_turn():
    chunks = [
        {
            "choices": [
                {"index": 0, "delta": {"content": "answer"}, "finish_reason": None, "stop_reason": None}
            ]
        },
        finish_chunk("stop", stop_reason=151645),
    ]
    message = accumulate(parse_sse(run(chunks)[0]))
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)


def test_content_filter_is_refusal():
    data, _ = run([delta_chunk(content="I can"), finish_chunk("content_filter")])
    assert accumulate(parse_sse(data))["stop_reason"] == "refusal"


def test_tool_calls_with_stop_finish_reason_is_tool_use():
    data, _ = run([tool_delta(0, "{}", id="c", name="Bash"), finish_chunk("stop")])
    assert accumulate(parse_sse(data))["stop_reason"] == "tool_use"


# ----------------------------------------------------------------------------- usage


def test_usage_chunk_after_finish_chunk():
    translator = StreamTranslator(CTX, "m")
    translator.start()
    translator.feed(delta_chunk(content="hi"))
    tail = translator.feed(finish_chunk("stop"))
    # finish_reason is only recorded: nothing final is sent before finish().
    assert shape(parse_sse(tail)) == []
    assert (
        translator.feed(
            {
                "choices": [],
                "usage": {"prompt_tokens": 50, "completion_tokens": 2, "prompt_cache_hit_tokens": 32},
            }
        )
        == b""
    )
    assert translator.usage == Usage(18, 2, 32)
    events = parse_sse(translator.finish())
    assert shape(events) == [("content_block_stop", 0), ("message_delta", None), ("message_stop", None)]
    assert events[1][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[1][1]["usage"] == {"input_tokens": 18, "output_tokens": 2, "cache_read_input_tokens": 32}


def test_usage_inside_finish_chunk_and_last_usage_wins():
    chunks = [
        {
            "choices": [{"index": 0, "delta": {"content": "a"}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1},
        },
        {"choices": [{"index": 0, "delta": {"content": "b"}}], "usage": None},
        {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2},
        },
    ]
    data, translator = run(chunks)
    assert parse_sse(data)[-2][1]["usage"] == {
        "input_tokens": 9,
        "output_tokens": 2,
        "cache_read_input_tokens": 0,
    }
    assert translator.usage == Usage(9, 2, 0)


def test_no_usage_at_all_reports_zeros():
    data, translator = run([delta_chunk(content="x"), finish_chunk("stop")])
    assert parse_sse(data)[-2][1]["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    assert translator.usage == Usage()


# ----------------------------------------------------------------------------- failure and empty


def test_fail_mid_stream_emits_only_an_error_event():
    translator = StreamTranslator(CTX, "m")
    translator.start()
    translator.feed(delta_chunk(content="partial"))
    translator.feed(tool_delta(0, '{"a":', id="c", name="Bash"))
    events = parse_sse(translator.fail("api_error", "upstream stream failed: connection reset"))
    assert events == [
        (
            "error",
            {
                "type": "error",
                "error": {"type": "api_error", "message": "upstream stream failed: connection reset"},
            },
        )
    ]
    assert translator.done
    assert translator.finish() == b""
    assert translator.feed(delta_chunk(content="late")) == b""
    assert translator.fail("api_error", "again") == b""
    anthropic_types = pytest.importorskip("anthropic.types")
    assert anthropic_types.ErrorResponse.model_validate(events[0][1]).error.type == "api_error"


def test_finish_with_no_content_is_a_valid_message():
    data, _ = run([delta_chunk(role="assistant", content=""), finish_chunk("stop")])
    events = parse_sse(data)
    assert shape(events) == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_stop", 0),
        ("message_delta", None),
        ("message_stop", None),
    ]
    message = accumulate(events)
    assert message["content"] == [{"type": "text", "text": ""}]
    assert message["stop_reason"] == "end_turn"
    validate_with_sdk(events)


def test_finish_without_any_chunk_or_start():
    translator = StreamTranslator(CTX, "m")
    events = parse_sse(translator.finish())
    assert events[0][0] == "message_start"
    assert accumulate(events)["content"] == [{"type": "text", "text": ""}]
    assert translator.finish() == b""


def test_whitespace_only_content_does_not_open_a_block():
    translator = StreamTranslator(CTX, "m")
    translator.start()
    assert translator.feed(delta_chunk(content="\n")) == b""
    assert translator.feed(delta_chunk(content="  ")) == b""
    assert translator.feed(delta_chunk(reasoning_content=" ")) == b""
    assert translator.feed(delta_chunk(content=None, reasoning_content=None)) == b""
    events = parse_sse(translator.feed(tool_delta(0, "{}", id="c", name="Bash")))
    assert [e[1].get("content_block", {}).get("type") for e in events if e[0] == "content_block_start"] == [
        "tool_use"
    ]
    # Whitespace after a text block opened is part of the text.
    data, _ = run([delta_chunk(content="a"), delta_chunk(content="\n\n"), delta_chunk(content="b")])
    assert accumulate(parse_sse(data))["content"] == [{"type": "text", "text": "a\n\nb"}]


def test_whitespace_only_stream_gives_empty_text_block():
    data, _ = run([delta_chunk(content="\n\n"), finish_chunk("stop")])
    assert accumulate(parse_sse(data))["content"] == [{"type": "text", "text": ""}]


def test_ping_constant():
    assert parse_sse(PING) == [("ping", {"type": "ping"})]


# ----------------------------------------------------------------------------- tool call edge cases


def test_tool_call_without_arguments_sends_no_json_delta():
    data, _ = run(
        [tool_delta(0, "", id="c", name="TodoRead"), tool_delta(0, "   "), finish_chunk("tool_calls")]
    )
    events = parse_sse(data)
    assert shape(events)[1:4] == [
        ("content_block_start", 0),
        ("content_block_stop", 0),
        ("message_delta", None),
    ]
    assert events[1][1]["content_block"] == {"type": "tool_use", "id": "c", "name": "TodoRead", "input": {}}


def test_missing_tool_call_id_is_generated_and_duplicates_replaced():
    chunks = [
        tool_delta(0, "{}", name="A"),
        tool_delta(1, "{}", id="dup", name="B"),
        tool_delta(2, "{}", id="dup2", name="C"),
    ]
    # A gateway repeating an id for a different index.
    chunks[2]["choices"][0]["delta"]["tool_calls"][0]["id"] = "dup2"
    data, _ = run(chunks + [finish_chunk("tool_calls")])
    ids = [b["id"] for b in accumulate(parse_sse(data))["content"]]
    assert TOOLU.match(ids[0]) and ids[1:] == ["dup", "dup2"]


def test_gateway_reusing_index_zero_for_every_call():
    chunks = [
        tool_delta(0, '{"x": 1}', id="call_1", name="A"),
        tool_delta(0, '{"y": 2}', id="call_2", name="B"),
        finish_chunk("tool_calls"),
    ]
    content = accumulate(parse_sse(run(chunks)[0]))["content"]
    assert [(b["id"], b["name"], b["input"]) for b in content] == [
        ("call_1", "A", {"x": 1}),
        ("call_2", "B", {"y": 2}),
    ]


def test_tool_call_deltas_without_index_follow_the_last_call():
    first = delta_chunk(tool_calls=[{"id": "c1", "function": {"name": "A", "arguments": '{"a"'}}])
    more = delta_chunk(tool_calls=[{"function": {"arguments": ": 1}"}}])
    second = delta_chunk(tool_calls=[{"id": "c2", "function": {"name": "B", "arguments": "{}"}}])
    content = accumulate(parse_sse(run([first, more, second, finish_chunk("tool_calls")])[0]))["content"]
    assert [(b["id"], b["input"]) for b in content] == [("c1", {"a": 1}), ("c2", {})]


def test_repeated_id_and_name_on_every_chunk():
    chunks = [tool_delta(0, p, id="c", name="Bash") for p in pieces('{"command": "ls"}', 3)]
    content = accumulate(parse_sse(run(chunks + [finish_chunk("tool_calls")])[0]))["content"]
    assert content == [{"type": "tool_use", "id": "c", "name": "Bash", "input": {"command": "ls"}}]


def test_name_arriving_after_id_and_arguments():
    chunks = [tool_delta(0, "", id="c"), tool_delta(0, '{"q": '), tool_delta(0, '"x"}', name="Search")]
    content = accumulate(parse_sse(run(chunks + [finish_chunk("tool_calls")])[0]))["content"]
    assert content == [{"type": "tool_use", "id": "c", "name": "Search", "input": {"q": "x"}}]


def test_nameless_tool_call_is_dropped():
    data, _ = run([delta_chunk(content="hi"), tool_delta(0, '{"a": 1}', id="c"), finish_chunk("stop")])
    message = accumulate(parse_sse(data))
    assert message["content"] == [{"type": "text", "text": "hi"}]
    assert message["stop_reason"] == "end_turn"


def test_text_after_unfinished_tool_call_waits_for_it():
    chunks = [
        tool_delta(0, '{"a": ', id="c", name="A"),
        delta_chunk(content="note"),
        tool_delta(0, "1}"),
        delta_chunk(content=" more"),
        finish_chunk("tool_calls"),
    ]
    message = accumulate(parse_sse(run(chunks)[0]))
    assert message["content"] == [
        {"type": "tool_use", "id": "c", "name": "A", "input": {"a": 1}},
        {"type": "text", "text": "note more"},
    ]


def test_pieces_after_a_complete_call_was_closed_are_dropped():
    chunks = [
        tool_delta(0, '{"a": 1}', id="c0", name="A"),
        tool_delta(1, '{"b": ', id="c1", name="B"),  # closes call 0 (complete JSON)
        tool_delta(0, "}"),  # junk for a closed call
        tool_delta(0, "\n"),
        tool_delta(1, "2}"),
        finish_chunk("tool_calls"),
    ]
    data, translator = run(chunks)
    content = accumulate(parse_sse(data))["content"]
    assert [b["input"] for b in content] == [{"a": 1}, {"b": 2}]
    assert translator.dropped_pieces == 1


def test_three_calls_interleaved_with_empty_starts():
    args = [{"i": 0, "s": "zero"}, {"i": 1, "s": "one" * 5}, {"i": 2}]
    split = [pieces(json.dumps(a), 3) for a in args]
    chunks = [tool_delta(i, "", id=f"c{i}", name=f"T{i}") for i in range(3)]
    for group in zip_longest(*split):
        for i, piece in enumerate(group):
            if piece is not None:
                chunks.append(tool_delta(i, piece))
    chunks.append(finish_chunk("tool_calls"))
    content = accumulate(parse_sse(run(chunks)[0]))["content"]
    assert [(b["id"], b["name"], b["input"]) for b in content] == [
        (f"c{i}", f"T{i}", args[i]) for i in range(3)
    ]


def test_legacy_function_call_delta():
    chunks = [
        delta_chunk(function_call={"name": "Bash", "arguments": '{"command"'}),
        delta_chunk(function_call={"arguments": ': "pwd"}'}),
        finish_chunk("function_call"),
    ]
    message = accumulate(parse_sse(run(chunks)[0]))
    block = message["content"][0]
    assert (block["name"], block["input"]) == ("Bash", {"command": "pwd"})
    assert TOOLU.match(block["id"])
    assert message["stop_reason"] == "tool_use"


def test_reasoning_alias_and_interleaved_thinking():
    chunks = [
        delta_chunk(reasoning="first thought"),
        delta_chunk(content="answer"),
        delta_chunk(reasoning_content="second thought"),
        finish_chunk("stop"),
    ]
    message = accumulate(parse_sse(run(chunks)[0]))
    assert [(b["type"], b.get("thinking") or b.get("text")) for b in message["content"]] == [
        ("thinking", "first thought"),
        ("text", "answer"),
        ("thinking", "second thought"),
    ]


def test_reasoning_and_content_in_one_delta():
    data, _ = run([delta_chunk(reasoning_content="think", content="say"), finish_chunk("stop")])
    assert [b["type"] for b in accumulate(parse_sse(data))["content"]] == ["thinking", "text"]


# ----------------------------------------------------------------------------- robustness


def test_in_stream_error_chunk_fails_the_stream():
    translator = StreamTranslator(CTX, "m")
    translator.start()
    translator.feed(delta_chunk(content="partial"))
    events = parse_sse(translator.feed({"error": {"message": "upstream overloaded", "code": 429}}))
    assert events == [
        (
            "error",
            {
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "upstream stream error: upstream overloaded",
                },
            },
        )
    ]
    assert translator.finish() == b""


def test_other_choices_are_ignored():
    chunk = {
        "choices": [
            {"index": 1, "delta": {"content": "other"}, "finish_reason": "length"},
            {"index": 0, "delta": {"content": "mine"}},
        ]
    }
    message = accumulate(parse_sse(run([chunk, finish_chunk("stop")])[0]))
    assert message["content"] == [{"type": "text", "text": "mine"}]
    assert message["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    "chunk",
    [
        {},
        {"choices": None},
        {"choices": ["junk"]},
        {"choices": [{"index": 0, "delta": "junk"}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": ["junk"]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": "junk"}]}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "id": 5, "function": {"name": 7, "arguments": {"a": 1}}}]
                    },
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "part"}]}}]},
        {"choices": [{"index": 0, "delta": {"content": 12}}]},
        {"usage": "junk"},
        ["not", "a", "dict"],
        "junk",
    ],
)
def test_malformed_chunks_never_raise(chunk):
    translator = StreamTranslator(CTX, "m")
    translator.start()
    translator.feed(chunk)
    events = parse_sse(translator.feed(delta_chunk(content="ok")) + translator.finish())
    assert events[-1][0] == "message_stop"


def test_lone_surrogate_does_not_crash():
    data, _ = run([delta_chunk(content="bad \ud800 char"), finish_chunk("stop")])
    assert accumulate(parse_sse(data))["content"][0]["text"] == "bad ? char"


def test_stream_matches_non_stream_translation():
    chunks = interleaved_chunks()
    streamed = accumulate(parse_sse(run(chunks, message_id="msg_same")[0]))
    completion = ChatCompletion.model_validate(
        {
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "content": "\n\nLet me check.",
                        "reasoning_content": "The user wants the tests run and a file read.",
                        "tool_calls": [
                            {
                                "id": "call_a",
                                "function": {"name": "mcp__fs__read_file", "arguments": json.dumps(ARGS_A)},
                            },
                            {"id": "call_b", "function": {"name": "Bash", "arguments": json.dumps(ARGS_B)}},
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": USAGE,
        }
    )
    whole = json.loads(to_anthropic_message(completion, CTX, "msg_same").model_dump_json())
    assert streamed == whole


# ----------------------------------------------------------------------------- property

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
tool_args = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(tool_args, min_size=1, max_size=3),
    prose=st.sampled_from([(), ("thinking",), ("text",), ("thinking", "text")]),
    seed=st.integers(0, 2**32 - 1),
    indent=st.sampled_from([None, 1]),
)
def test_any_split_and_interleaving_yields_exact_inputs(calls, prose, seed, indent):
    rng = random.Random(seed)
    chunks = []
    if "thinking" in prose:
        chunks += [delta_chunk(reasoning_content=p) for p in pieces("pondering it", rng.randint(1, 5))]
    if "text" in prose:
        chunks += [delta_chunk(content=p) for p in pieces("Doing it.", rng.randint(1, 5))]
    streams = []
    for i, args in enumerate(calls):
        text = json.dumps(args, indent=indent, ensure_ascii=rng.random() < 0.5)
        cut = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(0, 8))))
        parts = [text[a:b] for a, b in zip([0] + cut, cut + [len(text)])]
        first = tool_delta(i, "" if rng.random() < 0.5 else parts.pop(0), id=f"call_{i}", name=f"tool_{i}")
        streams.append([first] + [tool_delta(i, p) for p in parts])
    # Random merge that keeps each call's own order.
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        chunks.append(stream.pop(0))
    chunks.append(finish_chunk("tool_calls", usage={"prompt_tokens": 10, "completion_tokens": 5}))

    data, _ = run(chunks)
    events = parse_sse(data)
    message = accumulate(events)
    tools = [b for b in message["content"] if b["type"] == "tool_use"]
    # Blocks open in order of first appearance, which is the merge order of the first deltas.
    order = []
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls", []):
            if call["index"] not in order:
                order.append(call["index"])
    assert [(b["id"], b["name"], b["input"]) for b in tools] == [
        (f"call_{i}", f"tool_{i}", calls[i]) for i in order
    ]
    assert [b["type"] for b in message["content"]] == list(prose) + ["tool_use"] * len(calls)
    assert message["stop_reason"] == "tool_use"
