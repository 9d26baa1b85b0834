"""`codex-farm demo` proves an install works: one offline job end to end, on either Redis."""

import os
import subprocess
import sys
from pathlib import Path

from tests.codex_farm.process_tree import descendants, kill_all

DEMO_TIMEOUT_S = 120


def run_demo(tmp_path: Path, *args: str, **env: str) -> str:
    """Run `python -m codex_farm demo` without REDIS_URL; return its output after asserting exit 0."""
    environment = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FARM_EMBEDDED_REDIS")}
    environment.update(TMPDIR=str(tmp_path), **env)
    process = subprocess.Popen(
        [sys.executable, "-m", "codex_farm", "demo", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_all(descendants(process.pid))
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"demo did not finish in {DEMO_TIMEOUT_S} s:\n{output}") from None
    assert process.returncode == 0, output
    return output


def assert_demo_passed(output: str, tmp_path: Path) -> None:
    assert '"job_status": "completed"' in output, output
    assert '"check: passed"' in output, output
    assert "demo passed" in output, output
    assert not list(tmp_path.glob("codex-farm-demo-*")), "the demo left its temp dir behind"


def test_demo_completes_on_a_local_redis_server(tmp_path):
    output = run_demo(tmp_path)
    assert "redis:   local redis-server" in output, output
    assert_demo_passed(output, tmp_path)


def test_demo_completes_on_the_embedded_redis(tmp_path):
    output = run_demo(tmp_path, FARM_EMBEDDED_REDIS="1")
    assert "redis:   embedded in this process" in output, output
    assert "single-machine only" in output
    assert_demo_passed(output, tmp_path)


def test_demo_plays_a_providers_thinking_rules_with_profile(tmp_path):
    # The scripted gateway refuses any request that drops DeepSeek's reasoning, so a pass proves the round
    # trip.
    output = run_demo(tmp_path, "--profile", "deepseek")
    assert "playing deepseek" in output, output
    assert_demo_passed(output, tmp_path)
