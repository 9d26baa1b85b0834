"""The agent's environment and the launcher: a per-job token, a private HOME, none of the worker's secrets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from farm_core.job_tokens import verify_job_token
from farm_core.process_tree import JOB_ID_VARIABLE
from tasks import agent_launcher
from tasks.agent_env import (
    OFFLINE_CLI_ENV,
    PASSED_THROUGH,
    agent_env,
    base_job_env,
    bundled_cli,
    launcher_script,
)

SIGNING_KEY = "adapter-token-5e1f0c3b9a7d"
WORKER_SECRETS = {
    "ADAPTER_TOKEN": SIGNING_KEY,
    "REDIS_URL": "redis://:redis-pass-8c2e4f@127.0.0.1:6379/0",
    "ONEAPI_API_KEY": "sk-gateway-1a2b3c4d5e6f",
    "ANTHROPIC_API_KEY": "sk-ant-worker-9f8e7d6c",
    "FALLBACK_API_KEY": "fk-fallback-0a9b8c7d",
}
JOB = "4c1d2e3f5a6b"


@pytest.fixture
def worker_env(monkeypatch):
    """A worker process environment: known harmless variables plus the worker's secrets."""
    for name in PASSED_THROUGH:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(agent_launcher.KEPT_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TZ", "UTC")
    for name, value in WORKER_SECRETS.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def make_env(tmp_path: Path, cli: Path | None = None) -> dict[str, str]:
    return agent_env(
        JOB,
        tmp_path / "home",
        "http://127.0.0.1:8788",
        SIGNING_KEY,
        900,
        cli or tmp_path / "claude",
        tmp_path / "agent.pid",
    )


def test_base_job_env(worker_env, tmp_path):
    home = tmp_path / "home"
    env = base_job_env(JOB, home)
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        JOB_ID_VARIABLE: JOB,
    }
    assert (home / "tmp").is_dir()


def test_agent_env_exact_contents(worker_env, tmp_path):
    env = make_env(tmp_path)
    token = env["ANTHROPIC_API_KEY"]
    expected_keep = [
        "PATH",
        "LANG",
        "TZ",
        "HOME",
        "TMPDIR",
        JOB_ID_VARIABLE,
        *OFFLINE_CLI_ENV,
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
    ]
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "home" / "tmp"),
        JOB_ID_VARIABLE: JOB,
        **OFFLINE_CLI_ENV,
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8788",
        "ANTHROPIC_API_KEY": token,
        agent_launcher.ENV_KEEP: ",".join(expected_keep),
        agent_launcher.PIDFILE: str(tmp_path / "agent.pid"),
        agent_launcher.REAL_CLI: str(tmp_path / "claude"),
    }


def test_agent_token_is_a_job_token_for_this_job(worker_env, tmp_path):
    token = make_env(tmp_path)["ANTHROPIC_API_KEY"]
    assert token.startswith(f"job.{JOB}.")
    assert verify_job_token(token, [SIGNING_KEY]) == JOB
    assert verify_job_token(token, ["another-adapter-token"]) is None


def test_no_worker_secret_in_any_value(worker_env, tmp_path):
    env = make_env(tmp_path)
    for name in ("ADAPTER_TOKEN", "REDIS_URL", "ONEAPI_API_KEY", "FALLBACK_API_KEY"):
        assert name not in env
    for secret in WORKER_SECRETS.values():
        assert not any(secret in value for value in env.values()), secret


def test_launcher_controls_are_not_kept_for_the_cli(worker_env, tmp_path):
    keep = make_env(tmp_path)[agent_launcher.ENV_KEEP].split(",")
    assert not {agent_launcher.ENV_KEEP, agent_launcher.PIDFILE, agent_launcher.REAL_CLI} & set(keep)


def test_launcher_script_content_and_mode(tmp_path):
    script = launcher_script(tmp_path / "bin")
    assert script == tmp_path / "bin" / "claude-launcher"
    assert (
        script.read_text() == f'#!/bin/sh\nexec "{sys.executable}" -I -S "{agent_launcher.__file__}" "$@"\n'
    )
    assert script.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["claude-launcher"]


def test_launcher_script_written_once(tmp_path):
    script = launcher_script(tmp_path)
    before = script.stat()
    assert launcher_script(tmp_path) == script
    after = script.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_launcher_script_rewritten_when_stale(tmp_path):
    script = launcher_script(tmp_path)
    expected = script.read_text()
    script.write_text("#!/bin/sh\nexit 1\n")
    assert launcher_script(tmp_path).read_text() == expected


def test_bundled_cli_path():
    assert bundled_cli().parts[-2:] == ("_bundled", "claude")


REPORTER = """\
import json, os, sys
raw = open("/proc/self/environ", "rb").read().split(b"\\0")
environ = dict(item.decode().split("=", 1) for item in raw if item)
print(json.dumps({"pid": os.getpid(), "sid": os.getsid(0), "argv": sys.argv[1:], "env": environ}))
"""


def test_launcher_runs_the_cli_in_its_own_session_with_only_the_job_env(worker_env, tmp_path):
    fake_cli = tmp_path / "fake-claude"
    fake_cli.write_text(f"#!{sys.executable} -I\n{REPORTER}")
    fake_cli.chmod(0o755)
    env = make_env(tmp_path, cli=fake_cli)
    keep = env[agent_launcher.ENV_KEEP].split(",")
    # What the SDK hands the launcher: the worker's environment, the job's, and its own CLAUDE_* entries.
    launched_with = {
        **os.environ,
        **env,
        "CLAUDE_CODE_ENTRYPOINT": "sdk-py",
        "CLAUDE_AGENT_SDK_VERSION": "0.2.0",
        "PYTHONPATH": "/x",
    }
    process = subprocess.Popen(
        [str(launcher_script(tmp_path / "bin")), "--print", "two words"],
        env=launched_with,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    report = json.loads(out)

    assert report["pid"] == process.pid
    assert (tmp_path / "agent.pid").read_text() == str(report["pid"])
    assert report["sid"] == report["pid"] != os.getsid(0)
    assert report["argv"] == ["--print", "two words"]
    assert report["env"] == {
        **{name: env[name] for name in keep},
        "CLAUDE_CODE_ENTRYPOINT": "sdk-py",
        "CLAUDE_AGENT_SDK_VERSION": "0.2.0",
    }
    assert verify_job_token(report["env"]["ANTHROPIC_API_KEY"], [SIGNING_KEY]) == JOB
    for secret in WORKER_SECRETS.values():
        assert not any(secret in value for value in report["env"].values()), secret
