"""Provider profiles: how each gateway family switches thinking and where its reasoning travels.

A profile says which request fields turn thinking on or off (and carry an effort), and which message
field holds the reasoning the provider sends and wants back. The profile of a backend model is the
model map's `profile`, else ADAPTER_PROFILE, else inferred from the gateway URL and the model name.
Sources are quoted next to each profile; docs/providers.md has the table.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

ProfileName = Literal["deepseek", "kimi", "glm", "qwen", "gemini", "openrouter", "vllm", "generic"]
PROFILE_NAMES: tuple[ProfileName, ...] = (
    "deepseek",
    "kimi",
    "glm",
    "qwen",
    "gemini",
    "openrouter",
    "vllm",
    "generic",
)
# on / off: always; auto: as the client asks (Claude Code sends thinking enabled or adaptive), else the
# provider's default.
ThinkingMode = Literal["on", "off", "auto"]
# The efforts Claude Code sends in output_config.effort.
Effort = Literal["low", "medium", "high", "xhigh", "max"]

REASONING_CONTENT = "reasoning_content"
REASONING = "reasoning"

# (thinking on?, effort or None) -> the request fields that say so; None for on means "provider default".
ThinkingFields = Callable[[bool, Effort | None], dict[str, Any]]


@dataclass(frozen=True)
class ProviderProfile:
    """One gateway family's thinking switch and reasoning field."""

    name: ProfileName
    reasoning_field: str  # the message field reasoning arrives in and is sent back in
    thinking_fields: ThinkingFields
    hosts: tuple[str, ...] = ()  # gateway host names (suffixes) that identify the family
    model_prefixes: tuple[str, ...] = ()  # backend model names that identify it behind a relay


def _deepseek(on: bool, effort: Effort | None) -> dict[str, Any]:
    # api-docs.deepseek.com/guides/thinking_mode: "Thinking Mode Toggle: {"thinking": {"type":
    # "enabled/disabled"}}",
    # "Thinking mode is enabled by default"; effort "reasoning_effort": "high/max" ("low and medium are mapped
    # to high,
    # xhigh is mapped to max"), and agent-like requests such as Claude Code's get max when none is sent.
    if not on:
        return {"thinking": {"type": "disabled"}}
    fields: dict[str, Any] = {"thinking": {"type": "enabled"}}
    if effort is not None:
        fields["reasoning_effort"] = "max" if effort in ("xhigh", "max") else "high"
    return fields


def _kimi(on: bool, effort: Effort | None) -> dict[str, Any]:
    # Moonshot's Kimi K2.5/K2.6 think by default; `"thinking": {"type": "disabled"}` turns it off
    # (kimi-k2-thinking always thinks). No effort parameter.
    return {} if on else {"thinking": {"type": "disabled"}}


def _glm(on: bool, effort: Effort | None) -> dict[str, Any]:
    # docs.z.ai/guides/capabilities/thinking-mode: "Thinking is activated by default in GLM-5.1 GLM-5
    # GLM-4.7";
    # to disable, "thinking": {"type": "disabled"}; "thinking blocks should be explicitly preserved and
    # returned
    # together with the tool results"; clear_thinking false is Preserved Thinking (reasoning kept, and
    # cached).
    if not on:
        return {"thinking": {"type": "disabled"}}
    return {"thinking": {"type": "enabled", "clear_thinking": False}}


def _qwen(on: bool, effort: Effort | None) -> dict[str, Any]:
    # DashScope's OpenAI-compatible mode: a top-level `enable_thinking` boolean switches Qwen3's thinking.
    return {"enable_thinking": on}


def _gemini(on: bool, effort: Effort | None) -> dict[str, Any]:
    # Gemini's OpenAI-compatible endpoint: `reasoning_effort` low/medium/high, "none" turns thinking off.
    if not on:
        return {"reasoning_effort": "none"}
    return {"reasoning_effort": "high" if effort in ("high", "xhigh", "max") else (effort or "medium")}


def _openrouter(on: bool, effort: Effort | None) -> dict[str, Any]:
    # OpenRouter's unified `reasoning` object: {"effort": ...} or {"enabled": false}.
    if not on:
        return {"reasoning": {"enabled": False}}
    return {"reasoning": {"effort": "high" if effort in ("xhigh", "max") else (effort or "medium")}}


def _vllm(on: bool, effort: Effort | None) -> dict[str, Any]:
    # vLLM's reasoning parsers (Qwen3, DeepSeek-R1 templates): the chat template's enable_thinking switch.
    return {"chat_template_kwargs": {"enable_thinking": on}}


def _generic(on: bool, effort: Effort | None) -> dict[str, Any]:
    return {}  # an unknown gateway gets no field it might refuse; its reasoning still round-trips


PROFILES: dict[ProfileName, ProviderProfile] = {
    p.name: p
    for p in (
        ProviderProfile("deepseek", REASONING_CONTENT, _deepseek, ("deepseek.com",), ("deepseek",)),
        ProviderProfile(
            "kimi", REASONING_CONTENT, _kimi, ("moonshot.ai", "moonshot.cn", "kimi.com"), ("kimi", "moonshot")
        ),
        ProviderProfile("glm", REASONING_CONTENT, _glm, ("z.ai", "bigmodel.cn"), ("glm",)),
        ProviderProfile(
            "qwen",
            REASONING_CONTENT,
            _qwen,
            ("dashscope.aliyuncs.com", "dashscope-intl.aliyuncs.com"),
            ("qwen", "qwq"),
        ),
        ProviderProfile(
            "gemini", REASONING_CONTENT, _gemini, ("generativelanguage.googleapis.com",), ("gemini",)
        ),
        ProviderProfile("openrouter", REASONING, _openrouter, ("openrouter.ai",)),
        ProviderProfile("vllm", REASONING, _vllm),
        ProviderProfile("generic", REASONING_CONTENT, _generic),
    )
}


def infer_profile(base_url: str, model: str) -> ProviderProfile:
    """The profile a gateway URL names by its host, else the one the backend model's name names, else
    generic."""
    host = (urlsplit(base_url).hostname or "").lower()
    for profile in PROFILES.values():
        if any(host == h or host.endswith("." + h) for h in profile.hosts):
            return profile
    name = model.lower().rsplit("/", 1)[-1]  # relays often prefix a vendor: "deepseek/deepseek-v4-flash"
    for profile in PROFILES.values():
        if any(name.startswith(prefix) for prefix in profile.model_prefixes):
            return profile
    return PROFILES["generic"]


def wants_thinking(mode: ThinkingMode, client_thinking: dict[str, Any] | None) -> bool | None:
    """True/False to switch thinking on/off, or None to leave the provider's default (auto, client silent)."""
    if mode != "auto":
        return mode == "on"
    kind = (client_thinking or {}).get("type")
    if kind in ("enabled", "adaptive"):
        return True
    if kind == "disabled":
        return False
    return None


def client_effort(extra: dict[str, Any] | None) -> Effort | None:
    """The effort Claude Code asked for in output_config, when it is one we know."""
    config = (extra or {}).get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    return effort if effort in ("low", "medium", "high", "xhigh", "max") else None
