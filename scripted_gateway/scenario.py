"""Scenario models (what the fake model answers, turn by turn) and loading them from JSON.

A scenario file holds one scenario object or a list of them:

    {"name": "fix_bug", "turns": [
        {"reasoning": "...", "text": "...",
         "tool_calls": [{"name": "Bash", "arguments": {"command": "ls {cwd}"}}],
         "finish_reason": null, "matched_stop": null, "usage": {"prompt_tokens": 900, "cached_tokens": 512},
         "cache_style": "openai", "chunks": 3, "delay_ms": 0, "expect": ["substring"],
         "faults": [{"status": 429, "retry_after": 1}, {"cut_after_chunks": 2}, {"stall_ms": 500},
                    {"reset": true}]},
        {"text": "Done."}]}

Every turn field is optional; see `Turn` for defaults.
"""

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Stalls are bounded so a typo in a scenario cannot hang a test run.
MAX_STALL_MS = 60_000
MAX_DELAY_MS = 10_000

SCENARIO_NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"


class _Strict(BaseModel):
    # Unknown keys are almost always typos in hand-written scenarios; fail loudly.
    model_config = ConfigDict(extra="forbid")


FAULT_KINDS = ("status", "cut_after_chunks", "stall_ms", "reset")


class Fault(_Strict):
    """One injected failure: an HTTP error status, a cut stream, a stall, or a reset connection."""

    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    message: str | None = None
    cut_after_chunks: int | None = Field(default=None, ge=0)
    stall_ms: int | None = Field(default=None, ge=0, le=MAX_STALL_MS)
    # The TCP connection is reset (RST) before any byte of the answer is sent.
    reset: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> "Fault":
        kinds = [k for k in FAULT_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a fault needs exactly one of {', '.join(FAULT_KINDS)}")
        if self.status is None and (self.retry_after is not None or self.message is not None):
            raise ValueError("retry_after and message only apply to status faults")
        return self

    @property
    def kind(self) -> str:
        """Which of status / cut_after_chunks / stall_ms / reset this fault is."""
        return next(k for k in FAULT_KINDS if getattr(self, k) is not None)


class ToolCallSpec(_Strict):
    """A scripted tool call; dict arguments are JSON-encoded by the gateway, strings sent raw."""

    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    # Fixed id for tests that want to assert on it; otherwise `call_<hex>` is generated.
    id: str | None = None


class UsageSpec(_Strict):
    """Token counts to report instead of the computed defaults (each field optional)."""

    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    cached_tokens: int | None = Field(default=None, ge=0)


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class Turn(_Strict):
    """One assistant reply; turn N answers requests carrying N assistant messages."""

    reasoning: str | None = None
    text: str | None = None
    tool_calls: list[ToolCallSpec] = Field(default_factory=list)
    finish_reason: FinishReason | None = None
    matched_stop: str | None = None
    usage: UsageSpec | None = None
    cache_style: Literal["openai", "deepseek"] = "openai"
    chunks: int = Field(default=3, ge=1)
    delay_ms: int = Field(default=0, ge=0, le=MAX_DELAY_MS)
    expect: list[str] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    # Put the first arguments piece in the chunk that names the call (some providers do).
    first_chunk_args: bool = False

    def effective_finish_reason(self) -> str:
        """The scripted finish_reason, defaulting on whether the turn calls tools."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


class Scenario(_Strict):
    """A named script of turns, selected by `[[scenario:NAME]]` in the request."""

    name: str = Field(pattern=SCENARIO_NAME_PATTERN)
    description: str | None = None
    turns: list[Turn] = Field(min_length=1)


def parse_scenarios(data: Any) -> list[Scenario]:
    """Build scenarios from one scenario dict, a list of them, or Scenario objects."""
    items = data if isinstance(data, list) else [data]
    return [item if isinstance(item, Scenario) else Scenario.model_validate(item) for item in items]


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Load scenarios from a JSON file, or every `*.json` file of a directory (sorted)."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    scenarios: list[Scenario] = []
    for file in files:
        scenarios.extend(parse_scenarios(json.loads(file.read_text(encoding="utf-8"))))
    return scenarios


def coerce_scenarios(
    source: str | Path | Scenario | dict | Iterable[Scenario | dict] | None,
) -> list[Scenario]:
    """Accept a path, a single scenario (model or dict), or an iterable of them."""
    if source is None:
        return []
    if isinstance(source, (str, Path)):
        return load_scenarios(source)
    if isinstance(source, (Scenario, dict)):
        return parse_scenarios(source)
    return parse_scenarios(list(source))


def builtin_scenarios_dir() -> Path:
    """The folder of example scenarios shipped with the package."""
    return Path(str(resources.files("scripted_gateway") / "scenarios"))
