"""A local estimate for /v1/messages/count_tokens: OpenAI gateways have no such endpoint."""

from adapter.wire.openai_request import ChatRequest

# Roughly four bytes of JSON text per token for English text and code; close enough for
# Claude Code's context-budget decisions, which is all this endpoint is used for.
BYTES_PER_TOKEN = 4


def estimate_input_tokens(body: ChatRequest) -> int:
    """Estimated prompt tokens of a translated request (messages and tools)."""
    size = len(body.model_dump_json(include={"messages", "tools"}, exclude_none=True))
    return max(1, size // BYTES_PER_TOKEN)
