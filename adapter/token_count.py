"""A local estimate for /v1/messages/count_tokens: OpenAI gateways have no such endpoint."""

from adapter import json_codec

# Roughly four bytes of JSON text per token for English text and code; close enough for
# Claude Code's context-budget decisions, which is all this endpoint is used for.
BYTES_PER_TOKEN = 4


def estimate_input_tokens(payload: dict) -> int:
    """Estimated prompt tokens of a translated request (messages and tools)."""
    size = len(json_codec.dumps({"messages": payload["messages"], "tools": payload.get("tools", [])}))
    return max(1, size // BYTES_PER_TOKEN)
