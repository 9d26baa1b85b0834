"""Anthropic Messages API response shapes the adapter produces.

Only what the adapter emits is modelled: a complete ``Message`` (non-streaming answer)
and the ``ErrorBody`` envelope.  Streaming events are written directly as JSON by
``adapter.translate.stream`` and never go through these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextBlock(_Model):
    type: Literal["text"] = "text"
    text: str


class ThinkingBlock(_Model):
    type: Literal["thinking"] = "thinking"
    thinking: str
    # Upstream reasoning is not signed; Claude Code accepts an empty signature.
    signature: str = ""


class ToolUseBlock(_Model):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


ContentBlock = Annotated[TextBlock | ThinkingBlock | ToolUseBlock, Field(discriminator="type")]


class Usage(_Model):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = 0
    cache_read_input_tokens: int | None = 0


class Message(_Model):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage = Field(default_factory=Usage)


class ErrorDetail(_Model):
    type: str
    message: str


class ErrorBody(_Model):
    """``{"type": "error", "error": {"type": ..., "message": ...}}``."""

    type: Literal["error"] = "error"
    error: ErrorDetail

    @classmethod
    def of(cls, error_type: str, message: str) -> ErrorBody:
        return cls(error=ErrorDetail(type=error_type, message=message))
