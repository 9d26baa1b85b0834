"""The processes a latency benchmark talks to: the scripted gateway and the adapter, each on a loopback port.

Shared by `bench.adapter_latency` and `bench.proxy_compare`; every server runs as its own
process so the benchmark client's GIL does not distort it, and is stopped by its own PID.
"""

import json
import os
import sys
from pathlib import Path

from pydantic import SecretStr

from adapter.reasoning_seal import ReasoningSeal
from adapter.settings import AdapterSettings
from tests.fixtures.processes import ServerProcess, free_port
from tests.fixtures.processes import start_server as start_process

MARKER = "[[scenario:bench]]"
GATEWAY_KEY = "sk-bench-gateway-key-0000"
CLIENT_TOKEN = "bench-client-token-0000"
ANSWER = (
    "The failing test is fixed: the helper now returns the scaled value and every case in the suite passes again."
)  # 20 words
ANSWER_CHUNKS = 20
REASONING = "The helper multiplies by the wrong factor; the test expects the scaled value, so fix the factor."
# The seal the benchmark adapter makes and opens: derived from the gateway key it is started with.
BENCH_SEAL = ReasoningSeal.from_secrets(None, SecretStr(GATEWAY_KEY))

_SETTINGS_DEFAULTS = AdapterSettings.model_fields
DEFAULT_MODEL: str = _SETTINGS_DEFAULTS["default_model"].default
DEFAULT_CAP: int = _SETTINGS_DEFAULTS["max_output_tokens"].default


Server = ServerProcess  # what the benchmarks call a server process


def start_server(
    name: str,
    args: list[str],
    env: dict[str, str],
    port: int,
    health: str,
    workdir: Path,
    headers: dict | None = None,
    timeout_s: float = 30,
) -> Server:
    """Start `args` with exactly `env` and its output in `workdir/<name>.log`; return once GET `health` answers 200."""
    return start_process(
        args, env, workdir / f"{name}.log", port, health, headers=headers, inherit_env=False, require_ok=True, timeout_s=timeout_s
    )


def bench_scenario(assistant_turns: int, reasoning: bool = False) -> dict:
    """One scripted answer (with REASONING first when asked).  The gateway picks turn N for a request
    carrying N assistant messages, so the same turn is repeated up to the request's history length."""
    turn = {"text": ANSWER, "chunks": ANSWER_CHUNKS, **({"reasoning": REASONING} if reasoning else {})}
    return {"name": "bench", "description": "adapter benchmark", "turns": [turn] * (assistant_turns + 1)}


def start_gateway(workdir: Path, assistant_turns: int, max_output_tokens: int = DEFAULT_CAP, reasoning: bool = False) -> Server:
    """The scripted gateway answering `ANSWER` to any request with up to `assistant_turns` assistant messages."""
    scenarios = workdir / "bench-scenarios.json"
    scenarios.write_text(json.dumps(bench_scenario(assistant_turns, reasoning)))
    port = free_port()
    args = [sys.executable, "-m", "scripted_gateway", "--port", str(port), "--scenarios", str(scenarios),
            "--api-key", GATEWAY_KEY, "--max-output-tokens", str(max_output_tokens)]
    auth = {"authorization": f"Bearer {GATEWAY_KEY}"}
    return start_server("gateway", args, dict(os.environ), port, "/v1/models", workdir, auth)


def start_adapter(workdir: Path, gateway: Server, log_level: str) -> Server:
    """`codex-farm adapter` in front of the gateway, with the default model and output cap."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADAPTER_", "FALLBACK_", "WORKER_METRICS", "CLAUDE_MODEL"))}
    env.update(
        ONEAPI_BASE_URL=gateway.url + "/v1",
        ONEAPI_API_KEY=GATEWAY_KEY,
        ADAPTER_TOKENS=CLIENT_TOKEN,
        CLAUDE_MODEL=DEFAULT_MODEL,
        ADAPTER_MAX_OUTPUT_TOKENS=str(DEFAULT_CAP),
        ADAPTER_PROFILE="generic",  # the scripted gateway's default profile
    )
    args = [sys.executable, "-m", "codex_farm", "adapter", "--port", str(port), "--log-level", log_level]
    return start_server("adapter", args, env, port, "/healthz", workdir)
