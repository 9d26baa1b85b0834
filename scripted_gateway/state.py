"""Mutable gateway state shared by the HTTP app and the in-process handle (thread-safe)."""

import copy
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from .profiles import Profile, profile_named
from .scenario import Fault, Scenario
from .usage import TokenCounts

DEFAULT_MODELS = ("scripted-model",)


@dataclass(frozen=True)
class GatewayConfig:
    """Per-gateway settings: auth key, default scenario, output-token cap, listed models, token reporting,
    profile."""

    api_key: str | None = None
    default_scenario: str | None = None
    max_output_tokens: int = 8192
    models: tuple[str, ...] = DEFAULT_MODELS
    # False: every `usage` count is 0, as a scripted answer costs nothing (`codex-farm up`, `demo`);
    # tests of token accounting keep the default and get predictable counts.
    report_tokens: bool = True
    # Whose thinking rules to play (see `profiles.PROFILES`); "generic" enforces none.
    profile: str = "generic"

    def __post_init__(self) -> None:
        profile_named(self.profile)  # a typo fails here, not on the first request

    @property
    def thinking_profile(self) -> Profile:
        """The `Profile` named by `profile`."""
        return profile_named(self.profile)


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "calls": 0}


@dataclass
class _Records:
    requests: list[dict] = field(default_factory=list)
    total: dict[str, int] = field(default_factory=_zero_usage)
    per_scenario: dict[str, dict[str, int]] = field(default_factory=dict)
    # (scenario, turn) -> how many requests hit it; indexes that turn's fault list.
    fault_hits: dict[tuple[str, int], int] = field(default_factory=dict)


class GatewayState:
    """Scenarios, config, recorded requests, usage totals and fault counters."""

    def __init__(self, scenarios: list[Scenario] | None = None, config: GatewayConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._initial_scenarios = {s.name: s for s in scenarios or []}
        self._initial_config = config or GatewayConfig()
        self._scenarios = dict(self._initial_scenarios)
        self.config = self._initial_config
        self._records = _Records()

    def add_scenario(self, scenario: Scenario) -> None:
        """Register or replace a scenario; its fault counters start over."""
        with self._lock:
            self._scenarios[scenario.name] = scenario
            hits = self._records.fault_hits
            for key in [k for k in hits if k[0] == scenario.name]:
                del hits[key]

    def scenarios(self) -> dict[str, Scenario]:
        """A snapshot of the registered scenarios by name."""
        with self._lock:
            return dict(self._scenarios)

    def configure(self, **changes: Any) -> GatewayConfig:
        """Change config fields (api_key, default_scenario, max_output_tokens, models, report_tokens,
        profile)."""
        with self._lock:
            self.config = replace(self.config, **changes)
            return self.config

    def next_fault(self, scenario: Scenario, index: int) -> Fault | None:
        """Count a hit on (scenario, turn) and return the fault it consumes, if any left."""
        faults = scenario.turns[index].faults
        with self._lock:
            key = (scenario.name, index)
            hit = self._records.fault_hits.get(key, 0)
            self._records.fault_hits[key] = hit + 1
        return faults[hit] if hit < len(faults) else None

    def record_request(self, entry: dict) -> None:
        """Append one request record (see `requests`)."""
        with self._lock:
            self._records.requests.append(entry)

    def add_usage(self, scenario: str, counts: TokenCounts) -> None:
        """Add a served response's tokens to the overall and per-scenario totals."""
        with self._lock:
            per = self._records.per_scenario.setdefault(scenario, _zero_usage())
            for totals in (self._records.total, per):
                totals["prompt_tokens"] += counts.prompt
                totals["completion_tokens"] += counts.completion
                totals["cached_tokens"] += counts.cached
                totals["calls"] += 1

    def requests(self) -> list[dict]:
        """Copies of the recorded requests, oldest first."""
        with self._lock:
            return copy.deepcopy(self._records.requests)

    def usage(self) -> dict:
        """`{"total": {...}, "per_scenario": {name: {...}}}` token and call totals."""
        with self._lock:
            return copy.deepcopy({"total": self._records.total, "per_scenario": self._records.per_scenario})

    def reset(self, full: bool = False) -> None:
        """Forget requests, usage and fault counters; `full` also restores initial scenarios and config."""
        with self._lock:
            self._records = _Records()
            if full:
                self._scenarios = dict(self._initial_scenarios)
                self.config = self._initial_config
