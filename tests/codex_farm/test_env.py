"""`codex-farm env`: export lines a POSIX shell evals back to the exact values, or a one-line hint and exit
1."""

import io
import os
import subprocess
from pathlib import Path

import pytest

from codex_farm.env_cli import NOT_RUNNING, run_env
from codex_farm.local_state import FarmEnv, LocalPaths, RunningFarm, write_running

# Values a shell would split or expand if they were not quoted.
AWKWARD_ROOT = "/srv/my src/it's $HOME"
AWKWARD_PREFIX = "farm;`true`:"


@pytest.fixture
def paths(tmp_path: Path, monkeypatch) -> LocalPaths:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return LocalPaths.from_env()


def record(paths: LocalPaths, pid: int) -> FarmEnv:
    env = FarmEnv(
        redis_url="redis://:p%40ss@127.0.0.1:6390/0",
        adapter_url="http://127.0.0.1:8788",
        adapter_token="adapter-secret",
        mcp_token="mcp-secret",
        sandbox_root=Path(AWKWARD_ROOT),
        cache_dir=Path("/var/cache/farm"),
        key_prefix=AWKWARD_PREFIX,
    )
    write_running(paths, RunningFarm(pid=pid, mcp_url="http://127.0.0.1:8787/mcp", env=env))
    return env


def run() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_env(out, err)
    return code, out.getvalue(), err.getvalue()


def test_without_a_farm_it_prints_nothing_to_eval_and_one_hint_line(paths: LocalPaths):
    code, out, err = run()
    assert (code, out, err) == (1, "", f"codex-farm env: {NOT_RUNNING}\n")


def test_a_state_file_left_by_a_dead_up_is_not_trusted(paths: LocalPaths):
    record(paths, pid=2**22 + 12345)  # no such process
    code, out, err = run()
    assert code == 1 and out == "" and "has stopped" in err and err.count("\n") == 1


def test_the_export_lines_eval_back_to_exactly_the_recorded_values(paths: LocalPaths):
    expected = record(paths, pid=os.getpid()).variables()
    code, out, err = run()
    assert code == 0 and err == ""
    names = " ".join(expected)
    script = f'eval "$EXPORTS"; for name in {names}; do printf "%s=%s\\0" "$name" "${{!name}}"; done'
    shell_env = {"PATH": os.environ["PATH"], "EXPORTS": out}
    printed = subprocess.run(
        ["bash", "-c", script], env=shell_env, capture_output=True, text=True, check=True
    ).stdout
    assert dict(item.split("=", 1) for item in printed.split("\0") if item) == expected
    assert expected["SANDBOX_ROOT"] == AWKWARD_ROOT and expected["FARM_KEY_PREFIX"] == AWKWARD_PREFIX
    assert "FARM_QUEUE" not in out and "WORKER_METRICS_FILE" not in out  # unset in up: not exported
