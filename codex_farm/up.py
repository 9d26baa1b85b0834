"""`codex-farm up`: a whole farm on this machine until Ctrl-C, recorded for `codex-farm env` while it runs."""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from codex_farm.children import ChildFailed
from codex_farm.doctor import mask_url
from codex_farm.local_farm import FarmPlan, LocalFarm, default_cache_dir, interrupt_once_on_stop_signals
from codex_farm.local_redis import LocalRedis
from codex_farm.local_state import (
    FarmEnv,
    LocalPaths,
    LocalStateError,
    RunningFarm,
    clear_running,
    mcp_token,
    process_start,
    read_running,
    sandbox_root,
    still_running,
    write_running,
)
from codex_farm.ports import require_free
from codex_farm.settings import LocalFarmSettings
from farm_core.key_guard import make_undumpable
from mcp_frontend.settings import FrontendSettings
from mcp_frontend.tool_groups import TOOL_GROUPS

READY_HEADLINE = "codex-farm is up."
PIDS_FILE = "pids.json"
ENV_COMMAND = 'eval "$(codex-farm env)"'
_WATCH_PERIOD_S = 0.5


def run_up(args: argparse.Namespace) -> int:
    """Start every piece, print how to connect Codex, and supervise until a signal or a crash."""
    make_undumpable()  # before reading the gateway key and the tokens: see LocalFarm.start
    settings, paths = LocalFarmSettings(), LocalPaths.from_env()
    root, token = _settle(args, settings, paths)
    require_free(args.mcp_port, "--mcp-port")
    require_free(args.adapter_port, "--adapter-port")
    run_dir = Path(tempfile.mkdtemp(prefix="codex-farm-up-"))
    print(f"logs:    {run_dir}", flush=True)
    interrupt_once_on_stop_signals()
    try:
        with LocalFarm(_plan(args, run_dir, root, token), say=_say) as farm:
            (run_dir / PIDS_FILE).write_text(json.dumps({"up": os.getpid(), **farm.pids()}))
            try:
                write_running(paths, running_farm(farm, settings))
                _say(ready_block(farm, run_dir, paths, token_from_env=settings.mcp_token is not None))
                return _supervise(farm)
            finally:
                # Before the pieces stop: `codex-farm env` must never point at a farm that is going away.
                clear_running(paths, os.getpid())
    except ChildFailed as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("stopped during start-up")
        return 130


def _settle(args: argparse.Namespace, settings: LocalFarmSettings, paths: LocalPaths) -> tuple[Path, str]:
    """The sandbox root and MCP token of this run (kept ones unless overridden); exits when another up
    runs."""
    try:
        recorded = read_running(paths)
        if recorded is not None and still_running(recorded):
            raise SystemExit(
                f"error: codex-farm up is already running (pid {recorded.pid}, "
                f"{recorded.mcp_url}); stop it first"
            )
        token = mcp_token(paths, settings.mcp_token).get_secret_value()
        root = sandbox_root(paths, args.sandbox_root, settings.sandbox_root).expanduser().resolve()
    except LocalStateError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not root.is_dir():
        raise SystemExit(f"error: the sandbox root {root} is not a directory; pick one with --sandbox-root")
    return root, token


def _plan(args: argparse.Namespace, run_dir: Path, root: Path, token: str) -> FarmPlan:
    return FarmPlan(
        run_dir=run_dir,
        adapter_port=args.adapter_port,
        mcp_port=args.mcp_port,
        concurrency=args.concurrency,
        scripted=args.scripted,
        sandbox_root=root,
        cache_dir=default_cache_dir(),
        mcp_token=token,
        profile=args.profile,
    )


def running_farm(farm: LocalFarm, settings: LocalFarmSettings) -> RunningFarm:
    """What `codex-farm env` needs to point other commands at this farm (never a gateway key)."""
    env = FarmEnv(
        redis_url=farm.redis.url,
        adapter_url=farm.adapter_url,
        adapter_token=farm.adapter_token,
        mcp_token=farm.mcp_token,
        sandbox_root=farm.plan.sandbox_root,
        cache_dir=farm.plan.cache_dir,
        queue=settings.queue,
        key_prefix=settings.key_prefix,
        metrics_file=settings.metrics_file,
    )
    return RunningFarm(pid=os.getpid(), started=process_start(os.getpid()), mcp_url=farm.mcp_url, env=env)


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


def ready_block(farm: LocalFarm, run_dir: Path, paths: LocalPaths, token_from_env: bool) -> str:
    """How to connect Codex and other shells: URLs, token, Redis, sandbox, model, config snippet."""
    if token_from_env:
        token_line = "FARM_MCP_TOKEN as set in this environment"
    else:
        token_line = f"export FARM_MCP_TOKEN={farm.mcp_token}   (kept in {paths.config_file})"
    offline = f"\n  offline: {farm.model_note}" if farm.model_note else ""
    return f"""
{READY_HEADLINE}
  MCP URL: {farm.mcp_url}
  token:   {token_line}
  redis:   {_redis_line(farm.redis)}
  adapter: {farm.adapter_url}
  sandbox: {farm.plan.sandbox_root} (every repo must be inside it; --sandbox-root changes it for this \
and later runs)
  model:   {farm.model}{offline}
  tools:   {_served_groups()} (FARM_TOOLS, e.g. core,read,edit,review or all; docs/tools.md)
  logs:    {run_dir}
  state:   {paths.state_file} (while up runs)

In another shell, {ENV_COMMAND} points codex-farm doctor, wait and stats (and a stdio codex-farm mcp) \
at this farm.

Add to ~/.codex/config.toml (and export the token where Codex runs):

[mcp_servers.codex-farm]
url = "{farm.mcp_url}"
bearer_token_env_var = "FARM_MCP_TOKEN"
tool_timeout_sec = 120

Ctrl-C stops everything."""


def _served_groups() -> str:
    """The tool groups the frontend serves (its FARM_TOOLS, valid once it is up), in docs/tools.md's order."""
    served = FrontendSettings().tools
    return ",".join(group for group in TOOL_GROUPS if group in served)


def _redis_line(redis: LocalRedis) -> str:
    """The Redis URL with its password masked, what it is, and where to read the password."""
    shown = mask_url(redis.url)
    reveal = " (the password: codex-farm env)" if shown != redis.url else ""
    return f"{shown}{reveal}; {redis.mode}"


def _say(text: str) -> None:
    print(text, flush=True)
