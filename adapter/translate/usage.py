"""Token usage: OpenAI-compatible counts -> Anthropic semantics.

OpenAI's ``prompt_tokens`` includes cached prompt tokens; Anthropic's ``input_tokens``
excludes them and reports them separately as ``cache_read_input_tokens``.  So::

    cached        = prompt_tokens_details.cached_tokens   (OpenAI, vLLM, most gateways)
                    or else prompt_cache_hit_tokens        (DeepSeek)
                    or else 0
    input_tokens  = max(prompt_tokens - cached, 0)
    cache_read_input_tokens = cached

A zero ``cached_tokens`` does not hide a positive DeepSeek ``prompt_cache_hit_tokens``:
relaying gateways sometimes fill ``prompt_tokens_details`` with zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Usage in Anthropic terms (all counts are non-negative).

    ``input_tokens`` excludes the cached prompt tokens, which are ``cached_tokens``
    (Anthropic's ``cache_read_input_tokens``).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    # The part of output_tokens spent thinking, where the gateway says (completion_tokens_details).
    reasoning_tokens: int = 0

    @property
    def cache_read_input_tokens(self) -> int:
        return self.cached_tokens

    @property
    def prompt_tokens(self) -> int:
        """Total prompt size, cached part included (what OpenAI calls prompt_tokens)."""
        return self.input_tokens + self.cached_tokens

    def to_anthropic(self) -> dict[str, int]:
        """The Anthropic ``usage`` object of a complete message."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": self.cached_tokens,
        }


ZERO = Usage()


def _count(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if value > 0 else 0
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if number > 0 else 0


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def from_openai(usage: Any) -> Usage:
    """Convert an OpenAI usage object (pydantic ``CompletionUsage``, dict, or None)."""
    if usage is None:
        return ZERO
    prompt = _count(_get(usage, "prompt_tokens"))
    completion = _count(_get(usage, "completion_tokens"))
    cached = _count(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
    if not cached:
        cached = _count(_get(usage, "prompt_cache_hit_tokens"))
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=completion,
        cached_tokens=cached,
        reasoning_tokens=_count(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens")),
    )
