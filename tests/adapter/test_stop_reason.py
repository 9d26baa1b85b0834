import pytest

from adapter.translate.context import ResponseContext
from adapter.translate.stop_reason import to_anthropic_stop

CTX = ResponseContext(request_model="claude-sonnet-4-5", stop_sequences=("</answer>", "STOP"))

CASES = [
    # finish_reason, has_tool_calls, matched_stop, expected
    ("stop", False, None, ("end_turn", None)),
    ("stop", False, "</answer>", ("stop_sequence", "</answer>")),
    ("stop", False, "STOP", ("stop_sequence", "STOP")),
    # vLLM reports a stop *string* the client never asked for (server default): end_turn.
    ("stop", False, "<|im_end|>", ("end_turn", None)),
    # vLLM reports a stop *token id*: not a sequence.
    ("stop", False, 151645, ("end_turn", None)),
    ("stop", False, "", ("end_turn", None)),
    ("length", False, None, ("max_tokens", None)),
    ("length", True, None, ("max_tokens", None)),
    ("tool_calls", True, None, ("tool_use", None)),
    ("tool_calls", False, None, ("tool_use", None)),
    ("function_call", True, None, ("tool_use", None)),
    ("function_call", False, None, ("tool_use", None)),
    ("content_filter", False, None, ("refusal", None)),
    ("content_filter", True, None, ("refusal", None)),
    # Gateways that say "stop" although the model called tools.
    ("stop", True, None, ("tool_use", None)),
    ("stop", True, "STOP", ("tool_use", None)),
    ("end_turn", True, None, ("tool_use", None)),
    ("weird", True, None, ("tool_use", None)),
    (None, True, None, ("tool_use", None)),
    (None, False, None, ("end_turn", None)),
    ("", False, None, ("end_turn", None)),
    ("something_new", False, None, ("end_turn", None)),
    ("abort", False, None, ("end_turn", None)),
    # Anthropic-style reasons relayed by some gateways, and vendor spellings.
    ("end_turn", False, None, ("end_turn", None)),
    ("max_tokens", False, None, ("max_tokens", None)),
    ("tool_use", False, None, ("tool_use", None)),
    ("stop_sequence", False, "STOP", ("stop_sequence", "STOP")),
    ("sensitive", False, None, ("refusal", None)),
    ("eos_token", False, None, ("end_turn", None)),
    ("STOP", False, "STOP", ("stop_sequence", "STOP")),
    ("LENGTH", False, None, ("max_tokens", None)),
]


@pytest.mark.parametrize(("finish_reason", "has_tools", "matched", "expected"), CASES)
def test_stop_reason_table(finish_reason, has_tools, matched, expected):
    assert to_anthropic_stop(finish_reason, has_tools, matched, CTX) == expected


def test_matched_stop_needs_client_stop_sequences():
    no_sequences = ResponseContext(request_model="m")
    assert to_anthropic_stop("stop", False, "STOP", no_sequences) == ("end_turn", None)


def test_matched_stop_ignored_for_length():
    assert to_anthropic_stop("length", False, "STOP", CTX) == ("max_tokens", None)
