"""Token accounting for a served turn: deterministic defaults, overrides, wire formats."""

import json
from dataclasses import dataclass

from .scenario import UsageSpec


@dataclass(frozen=True)
class TokenCounts:
    """Prompt, completion, cached-prompt and reasoning (part of completion) token counts of one response."""

    prompt: int
    completion: int
    cached: int
    reasoning: int = 0


NO_TOKENS = TokenCounts(prompt=0, completion=0, cached=0)


@dataclass(frozen=True)
class UsageFields:
    """Fields a provider adds to OpenAI's `usage`: reasoning tokens, DeepSeek's cache hit/miss split."""

    reasoning_tokens: bool = False
    cache_hit_miss: bool = False


OPENAI_USAGE = UsageFields()


def compute_usage(
    messages: list[dict], generated: str, override: UsageSpec | None, reasoning: str = ""
) -> TokenCounts:
    """Defaults are ~4 chars per token so tests can predict them; `override` wins per field."""
    prompt = len(json.dumps(messages)) // 4
    completion = max(1, len(generated) // 4)
    cached = 0
    if override is not None:
        prompt = prompt if override.prompt_tokens is None else override.prompt_tokens
        completion = completion if override.completion_tokens is None else override.completion_tokens
        cached = cached if override.cached_tokens is None else override.cached_tokens
    # Reasoning is part of the completion, so it never exceeds it (even under an override).
    thought = min(completion, max(1, len(reasoning) // 4)) if reasoning else 0
    return TokenCounts(prompt=prompt, completion=completion, cached=cached, reasoning=thought)


def render_usage(counts: TokenCounts, cache_style: str, fields: UsageFields = OPENAI_USAGE) -> dict:
    """The `usage` object, with cache hits reported the OpenAI or the DeepSeek way, plus the provider's
    `fields`."""
    usage: dict = {
        "prompt_tokens": counts.prompt,
        "completion_tokens": counts.completion,
        "total_tokens": counts.prompt + counts.completion,
    }
    if cache_style == "deepseek" or fields.cache_hit_miss:
        usage["prompt_cache_hit_tokens"] = counts.cached
        usage["prompt_cache_miss_tokens"] = max(0, counts.prompt - counts.cached)
    if cache_style != "deepseek":
        usage["prompt_tokens_details"] = {"cached_tokens": counts.cached}
    if fields.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": counts.reasoning}
    return usage
