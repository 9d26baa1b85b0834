"""The processes a latency benchmark talks to: the scripted gateway and the adapter, each on a loopback port.

Shared by `bench.adapter_latency`, `bench.proxy_compare` and the bench farms (bench/farm_processes.py);
every server runs as its own process so the benchmark client's GIL does not distort it, started and
stopped by its PID as the command does its own children (codex_farm/children.py).
"""

import json
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
from pydantic import SecretStr

from adapter.reasoning_seal import ReasoningSeal
from adapter.settings import AdapterSettings
from codex_farm.children import Child, ChildFailed, spawn, wait_ready
from codex_farm.ports import LOOPBACK, free_port

MARKER = "[[scenario:bench]]"
GATEWAY_KEY = "sk-bench-gateway-key-0000"
CLIENT_TOKEN = "bench-client-token-0000"
# 20 words
ANSWER = (
    "The failing test is fixed: the helper now returns the scaled value and every "
    "case in the suite passes again."
)
ANSWER_CHUNKS = 20
REASONING = "The helper multiplies by the wrong factor; the test expects the scaled value, so fix the factor."
# The seal the benchmark adapter makes and opens: derived from the gateway key it is started with.
BENCH_SEAL = ReasoningSeal.from_secrets(None, SecretStr(GATEWAY_KEY))

_SETTINGS_DEFAULTS = AdapterSettings.model_fields
DEFAULT_MODEL: str = _SETTINGS_DEFAULTS["default_model"].default
DEFAULT_CAP: int = _SETTINGS_DEFAULTS["max_output_tokens"].default


@dataclass(frozen=True)
class Server:
    """A child process serving HTTP on a loopback port (started and stopped as the command does its own)."""

    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.child.pid

    def stop(self) -> None:
        self.child.stop()


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
    """Start `args` with exactly `env` and its output in `workdir/<name>.log`; return once GET `health`
    answers 200."""
    server = Server(spawn(name, args, env, workdir / f"{name}.log"), port)
    try:
        answering = partial(_answers_ok, server.url + health, headers)
        wait_ready(server.child, answering, timeout_s, f"answering GET {health}")
    except ChildFailed:
        server.stop()
        raise
    return server


def _answers_ok(url: str, headers: dict | None) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def bench_scenario(assistant_turns: int, reasoning: bool = False) -> dict:
    """One scripted answer (with REASONING first when asked).  The gateway picks turn N for a request
    carrying N assistant messages, so the same turn is repeated up to the request's history length."""
    turn = {"text": ANSWER, "chunks": ANSWER_CHUNKS, **({"reasoning": REASONING} if reasoning else {})}
    return {"name": "bench", "description": "adapter benchmark", "turns": [turn] * (assistant_turns + 1)}


def start_gateway(
    workdir: Path, assistant_turns: int, max_output_tokens: int = DEFAULT_CAP, reasoning: bool = False
) -> Server:
    """The scripted gateway answering `ANSWER` to any request with up to `assistant_turns` assistant
    messages."""
    scenarios = workdir / "bench-scenarios.json"
    scenarios.write_text(json.dumps(bench_scenario(assistant_turns, reasoning)))
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "scripted_gateway",
        "--port",
        str(port),
        "--scenarios",
        str(scenarios),
        "--api-key",
        GATEWAY_KEY,
        "--max-output-tokens",
        str(max_output_tokens),
    ]
    auth = {"authorization": f"Bearer {GATEWAY_KEY}"}
    return start_server("gateway", args, dict(os.environ), port, "/v1/models", workdir, auth)


def start_adapter(
    workdir: Path, upstream_url: str, log_level: str, metrics_file: Path | None = None
) -> Server:
    """`codex-farm adapter` in front of an OpenAI base URL, with the default model and output cap; its gateway
    calls are written to metrics_file when one is given."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ADAPTER_", "FALLBACK_", "WORKER_METRICS", "CLAUDE_MODEL"))
    }
    if metrics_file is not None:
        env["WORKER_METRICS_FILE"] = str(metrics_file)
    env.update(
        ONEAPI_BASE_URL=upstream_url,
        ONEAPI_API_KEY=GATEWAY_KEY,
        ADAPTER_TOKENS=CLIENT_TOKEN,
        CLAUDE_MODEL=DEFAULT_MODEL,
        ADAPTER_MAX_OUTPUT_TOKENS=str(DEFAULT_CAP),
        ADAPTER_PROFILE="generic",  # the scripted gateway's default profile
    )
    args = [sys.executable, "-m", "codex_farm", "adapter", "--port", str(port), "--log-level", log_level]
    return start_server("adapter", args, env, port, "/healthz", workdir)
