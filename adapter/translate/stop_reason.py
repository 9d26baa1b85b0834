"""OpenAI ``finish_reason`` -> Anthropic ``stop_reason`` / ``stop_sequence``.

Rules, in order:

* ``length`` -> ``max_tokens`` (even with tool calls: their arguments are likely cut off,
  and claiming ``tool_use`` would make the client run a tool with truncated input);
* ``content_filter`` -> ``refusal``;
* ``tool_calls`` / ``function_call``, or tool calls present with any other finish reason
  (some gateways say ``stop``) -> ``tool_use``;
* ``stop`` -> ``stop_sequence`` with the sequence when vLLM's choice-level ``stop_reason``
  is a string that the client listed in ``stop_sequences``, else ``end_turn``;
* None / anything unknown -> ``end_turn``.

Gateways that relay Anthropic-style reasons (``end_turn``, ``max_tokens``, ``tool_use``,
``stop_sequence``) are understood too, as are a few vendor spellings of the same ideas.
"""

from __future__ import annotations

from adapter.translate.context import ResponseContext

_MAX_TOKENS = frozenset({"length", "max_tokens"})
_REFUSAL = frozenset({"content_filter", "refusal", "sensitive", "safety"})
_TOOL_USE = frozenset({"tool_calls", "function_call", "tool_use"})
_STOP = frozenset({"stop", "stop_sequence", "end_turn", "eos", "eos_token"})


def to_anthropic_stop(
    finish_reason: str | None,
    has_tool_calls: bool,
    matched_stop: str | int | None,
    context: ResponseContext,
) -> tuple[str, str | None]:
    """Return ``(stop_reason, stop_sequence)``; ``stop_sequence`` is None unless one matched."""
    reason = finish_reason.lower() if isinstance(finish_reason, str) else None
    if reason in _MAX_TOKENS:
        return "max_tokens", None
    if reason in _REFUSAL:
        return "refusal", None
    if has_tool_calls or reason in _TOOL_USE:
        return "tool_use", None
    if (
        reason in _STOP
        and isinstance(matched_stop, str)
        and matched_stop
        and matched_stop in context.stop_sequences
    ):
        return "stop_sequence", matched_stop
    return "end_turn", None
