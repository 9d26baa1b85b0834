"""`codex-farm up`: a whole farm on this machine until Ctrl-C."""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from codex_farm.settings import LocalFarmSettings
from codex_farm.children import ChildFailed
from codex_farm.local_farm import FarmPlan, LocalFarm, default_cache_dir, interrupt_once_on_stop_signals
from codex_farm.ports import require_free

READY_HEADLINE = "codex-farm is up."
PIDS_FILE = "pids.json"
_WATCH_PERIOD_S = 0.5


def run_up(args: argparse.Namespace) -> int:
    """Start every piece, print how to connect Codex, and supervise until a signal or a crash."""
    require_free(args.mcp_port, "--mcp-port")
    require_free(args.adapter_port, "--adapter-port")
    run_dir = Path(tempfile.mkdtemp(prefix="codex-farm-up-"))
    print(f"logs:    {run_dir}", flush=True)
    interrupt_once_on_stop_signals()
    try:
        with LocalFarm(_plan(args, run_dir), say=_say) as farm:
            (run_dir / PIDS_FILE).write_text(json.dumps({"up": os.getpid(), **farm.pids()}))
            _say(ready_block(farm, run_dir))
            return _supervise(farm)
    except ChildFailed as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("stopped during start-up")
        return 130


def _plan(args: argparse.Namespace, run_dir: Path) -> FarmPlan:
    settings = LocalFarmSettings()
    return FarmPlan(
        run_dir=run_dir,
        adapter_port=args.adapter_port,
        mcp_port=args.mcp_port,
        concurrency=args.concurrency,
        scripted=args.scripted,
        sandbox_root=(settings.sandbox_root or Path.cwd()).resolve(),
        cache_dir=default_cache_dir(),
        mcp_token=settings.mcp_token.get_secret_value() if settings.mcp_token else None,
    )


def _supervise(farm: LocalFarm) -> int:
    """Sleep until a stop signal (exit 0) or a piece dies (exit 1 with its last log lines)."""
    try:
        while (dead := farm.dead_piece()) is None:
            time.sleep(_WATCH_PERIOD_S)
    except KeyboardInterrupt:
        _say("stopping ...")
        return 0
    _say(f"error: {dead}\nstopping the rest ...")
    return 1


def ready_block(farm: LocalFarm, run_dir: Path) -> str:
    """How to connect Codex: URL, token, config snippet, and where things run."""
    if LocalFarmSettings().mcp_token:
        token_line = "FARM_MCP_TOKEN as set in this environment"
    else:
        token_line = f"export FARM_MCP_TOKEN={farm.mcp_token}"
    return f"""
{READY_HEADLINE}
  MCP URL: {farm.mcp_url}
  token:   {token_line}
  redis:   {farm.redis.mode}
  model:   {farm.model}
  logs:    {run_dir}

Add to ~/.codex/config.toml (and export the token where Codex runs):

[mcp_servers.codex-farm]
url = "{farm.mcp_url}"
bearer_token_env_var = "FARM_MCP_TOKEN"
tool_timeout_sec = 120

Ctrl-C stops everything."""


def _say(text: str) -> None:
    print(text, flush=True)
