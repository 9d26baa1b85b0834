"""Token accounting for a served turn: deterministic defaults, overrides, wire formats."""

import json
from dataclasses import dataclass

from .scenario import UsageSpec


@dataclass(frozen=True)
class TokenCounts:
    """Prompt, completion and cached-prompt token counts of one response."""

    prompt: int
    completion: int
    cached: int


NO_TOKENS = TokenCounts(prompt=0, completion=0, cached=0)


def compute_usage(messages: list[dict], generated: str, override: UsageSpec | None) -> TokenCounts:
    """Defaults are ~4 chars per token so tests can predict them; `override` wins per field."""
    prompt = len(json.dumps(messages)) // 4
    completion = max(1, len(generated) // 4)
    cached = 0
    if override is not None:
        prompt = prompt if override.prompt_tokens is None else override.prompt_tokens
        completion = completion if override.completion_tokens is None else override.completion_tokens
        cached = cached if override.cached_tokens is None else override.cached_tokens
    return TokenCounts(prompt=prompt, completion=completion, cached=cached)


def render_usage(counts: TokenCounts, cache_style: str) -> dict:
    """The `usage` object, with cache hits reported the OpenAI or the DeepSeek way."""
    usage: dict = {
        "prompt_tokens": counts.prompt,
        "completion_tokens": counts.completion,
        "total_tokens": counts.prompt + counts.completion,
    }
    if cache_style == "deepseek":
        usage["prompt_cache_hit_tokens"] = counts.cached
        usage["prompt_cache_miss_tokens"] = max(0, counts.prompt - counts.cached)
    else:
        usage["prompt_tokens_details"] = {"cached_tokens": counts.cached}
    return usage
