"""A scripted OpenAI-compatible gateway: a fake paid model for tests, benchmarks and demos."""

from .scenario import (
    Fault,
    Scenario,
    ToolCallSpec,
    Turn,
    UsageSpec,
    builtin_scenarios_dir,
    load_scenarios,
    parse_scenarios,
)
from .server import GatewayHandle, run_in_thread, serve
from .state import GatewayConfig

__all__ = [
    "Fault",
    "GatewayConfig",
    "GatewayHandle",
    "Scenario",
    "ToolCallSpec",
    "Turn",
    "UsageSpec",
    "builtin_scenarios_dir",
    "load_scenarios",
    "parse_scenarios",
    "run_in_thread",
    "serve",
]
