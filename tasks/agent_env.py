"""The environment a job's agent and checks run with: a per-job token, an offline CLI, nothing else."""

import json
import os
import sys
from pathlib import Path

import claude_agent_sdk

from farm_core.job_tokens import mint_job_token
from farm_core.process_tree import job_env_marker
from tasks import agent_launcher

# Keep the CLI from calling anything but the adapter.
OFFLINE_CLI_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
# Tells the CLI it runs in a sandbox: it then accepts bypassPermissions even from a root worker.
SANDBOXED_CLI_ENV = {"IS_SANDBOX": "1"}
# Harmless variables of the worker's own environment a job may see.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "SHELL", "USER", "LOGNAME")


def bundled_cli() -> Path:
    """The Claude Code CLI shipped inside claude-agent-sdk's wheel."""
    return Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


def base_job_env(job_id: str, home: Path) -> dict[str, str]:
    """Variables every process of a job gets: a private HOME and the job marker."""
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    env.update(HOME=str(home), TMPDIR=str(home / "tmp"), **job_env_marker(job_id))
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def agent_env(
    job_id: str,
    home: Path,
    adapter_url: str,
    signing_key: str,
    ttl_s: int,
    cli: Path,
    pidfile: Path,
    sandbox: list[str] | None = None,
) -> dict[str, str]:
    """Environment for the CLI launcher: adapter URL, a per-job token, and the launcher's own controls
    (`sandbox`: the bwrap command line the CLI runs under, from tasks/sandbox.py)."""
    env = base_job_env(job_id, home)
    env.update(OFFLINE_CLI_ENV)
    env.update(ANTHROPIC_BASE_URL=adapter_url, ANTHROPIC_API_KEY=mint_job_token(job_id, signing_key, ttl_s))
    if sandbox:
        env.update(SANDBOXED_CLI_ENV)
    env[agent_launcher.ENV_KEEP] = ",".join(env)
    env.update({agent_launcher.PIDFILE: str(pidfile), agent_launcher.REAL_CLI: str(cli)})
    if sandbox:
        env[agent_launcher.SANDBOX] = json.dumps(sandbox)
    return env


def launcher_script(directory: Path) -> Path:
    """An executable that runs the launcher with this interpreter; written once per cache dir."""
    script = directory / "claude-launcher"
    text = f'#!/bin/sh\nexec "{sys.executable}" -I -S "{agent_launcher.__file__}" "$@"\n'
    if not script.exists() or script.read_text() != text:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = script.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(script)
    return script
