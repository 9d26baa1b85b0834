"""OpenAI-compatible `/chat/completions` response shapes (non-streaming and streaming).

The models are deliberately tolerant: unknown fields are ignored and nearly every field
is optional, because DeepSeek, OneAPI, New API and vLLM each fill these objects a little
differently.  Vendor extensions that matter to the translation are modelled explicitly:

* ``reasoning_content`` (DeepSeek, vLLM reasoning parsers) and ``reasoning`` (newer vLLM,
  OpenRouter-style gateways) carry the model's chain of thought; OpenRouter adds
  ``reasoning_details`` and Gemini a tool call's ``extra_content`` (its thought signature);
* ``stop_reason`` on a choice (vLLM) is the stop string or token id that ended generation;
* ``prompt_cache_hit_tokens`` / ``prompt_cache_miss_tokens`` (DeepSeek) next to the
  OpenAI-style ``prompt_tokens_details.cached_tokens``.

The streaming translator works on plain dicts for speed; ``ChatCompletionChunk`` exists for
callers (and tests) that want a typed view of a chunk.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


def _flatten_content(value: Any) -> Any:
    """Some gateways return ``content`` as a list of parts; keep only the text."""
    if isinstance(value, list):
        parts: list[str] = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    return value


def _count_or_none(value: Any) -> int | None:
    """Token counts: accept ints, integral floats and numeric strings; junk becomes None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


# A token count that never fails validation: a malformed usage must not lose the answer.
Count = Annotated[int | None, BeforeValidator(_count_or_none)]


def _objects_only(value: Any) -> list[dict[str, Any]] | None:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else None


def _object_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


# Opaque provider state, kept as received; a malformed one is dropped, never fatal.
Objects = Annotated[list[dict[str, Any]] | None, BeforeValidator(_objects_only)]
Object = Annotated[dict[str, Any] | None, BeforeValidator(_object_or_none)]


class FunctionCall(_Tolerant):
    name: str | None = None
    # Normally a JSON-encoded string; a few gateways send an already decoded object.
    arguments: str | dict[str, Any] | list[Any] | None = None


class ToolCall(_Tolerant):
    # Required by OpenAI in stream deltas, absent in non-stream messages of some gateways.
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None
    # Gemini: {"google": {"thought_signature": ...}}, to be sent back on this same call.
    extra_content: Object = None


class PromptTokensDetails(_Tolerant):
    cached_tokens: Count = None


class CompletionTokensDetails(_Tolerant):
    reasoning_tokens: Count = None


class CompletionUsage(_Tolerant):
    prompt_tokens: Count = None
    completion_tokens: Count = None
    total_tokens: Count = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    # DeepSeek context caching.
    prompt_cache_hit_tokens: Count = None
    prompt_cache_miss_tokens: Count = None


class _MessageFields(_Tolerant):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    # OpenRouter: the reasoning as typed objects (text, summary, encrypted), to be sent back unmodified.
    reasoning_details: Objects = None
    tool_calls: list[ToolCall] | None = None
    # Legacy single function call (pre-tools API); still produced by some old gateways.
    function_call: FunctionCall | None = None
    refusal: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        return _flatten_content(value)

    @property
    def thinking_text(self) -> str | None:
        """The reasoning text, whichever field the upstream used."""
        return self.reasoning_content or self.reasoning


class ChatMessage(_MessageFields):
    """``choices[i].message`` of a non-streaming completion."""


class ChoiceDelta(_MessageFields):
    """``choices[i].delta`` of a streaming chunk."""


class Choice(_Tolerant):
    index: int = 0
    message: ChatMessage = Field(default_factory=ChatMessage)
    finish_reason: str | None = None
    # vLLM: the stop string (str) or stop token id (int) that ended generation, else None.
    stop_reason: str | int | None = None

    @field_validator("message", mode="before")
    @classmethod
    def _null_message(cls, value: Any) -> Any:
        return {} if value is None else value


class ChunkChoice(_Tolerant):
    index: int = 0
    delta: ChoiceDelta = Field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    stop_reason: str | int | None = None

    @field_validator("delta", mode="before")
    @classmethod
    def _null_delta(cls, value: Any) -> Any:
        return {} if value is None else value


class ChatCompletion(_Tolerant):
    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[Choice] = Field(default_factory=list)
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None

    @field_validator("choices", mode="before")
    @classmethod
    def _null_choices(cls, value: Any) -> Any:
        return [] if value is None else value


class ChatCompletionChunk(_Tolerant):
    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[ChunkChoice] = Field(default_factory=list)
    # Sent on the last chunk (with ``choices: []``) under ``stream_options.include_usage``,
    # or on the finish chunk by some gateways, or on every chunk by vLLM's continuous stats.
    usage: CompletionUsage | None = None

    @field_validator("choices", mode="before")
    @classmethod
    def _null_choices(cls, value: Any) -> Any:
        return [] if value is None else value
