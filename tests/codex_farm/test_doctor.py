"""`codex-farm doctor` against a real local farm: healthy, and broken one piece at a time."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.settings import AdapterSettings
from codex_farm import doctor
from codex_farm.doctor import (
    CheckResult,
    check_gateway_key_reach,
    check_isolation,
    check_profiles,
    check_signing,
    mask_url,
)
from farm_core.settings import FarmSettings
from scripted_gateway import builtin_scenarios_dir
from tasks.agent_env import bundled_cli
from tasks.settings import WorkerSettings
from tests.fixtures.farm import Farm
from tests.fixtures.machine_tools import require_bwrap
from tests.fixtures.planted import GATEWAY_KEY
from tests.fixtures.processes import free_port, start_server
from tests.fixtures.redis_server import REDIS_PASSWORD
from tests.fixtures.signing import make_signing_files
from tests.fixtures.unprivileged import unprivileged
from tests.fixtures.waiting import wait_until

CHECKS = [
    "python",
    "git",
    "settings",
    "claude-cli",
    "redis",
    "queues",
    "workers",
    "deadletter",
    "adapter",
    "profiles",
    "sandbox",
    "cache-dir",
    "isolation",
    "gateway-key",
    "signing",
    "gateway",
]
NETWORK_CHECKS = ["probe-on", "probe-off"]
STATUSES = (["OK"], ["FAIL"], ["SKIP"], ["WARN"], ["INFO"])
PROBE = json.loads((builtin_scenarios_dir() / "probe.json").read_text())
# Unsandboxed agents of a worker that may ptrace anyone (root) can read the adapter's key: doctor warns.
GATEWAY_KEY_LINE = "WARN gateway-key" if os.geteuid() == 0 else "OK   gateway-key"


def run_doctor(farm: Farm, *args: str, **env: str) -> tuple[int, dict[str, str]]:
    """Run `python -m codex_farm doctor`; return its exit code and its lines keyed by check name (all of
    them, in order)."""
    environment = {**os.environ, **farm.env, "CLAUDE_CLI_PATH": str(bundled_cli()), **env}
    done = subprocess.run(
        [sys.executable, "-m", "codex_farm", "doctor", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    for secret in (REDIS_PASSWORD, farm.adapter.token, env.get("ADAPTER_TOKEN", farm.adapter.token)):
        assert secret not in output, output
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.split()[:1] in STATUSES}
    assert list(lines) == CHECKS + (NETWORK_CHECKS if "--network" in args else []), output
    return done.returncode, lines


def test_a_healthy_farm_passes_every_check(farm: Farm):
    code, lines = run_doctor(farm)
    assert code == 0, lines
    for name, line in lines.items():
        expected = {
            "gateway": "SKIP gateway",
            "isolation": "INFO isolation",
            "signing": "INFO signing",
            "gateway-key": GATEWAY_KEY_LINE,
        }
        assert line.startswith(expected.get(name, "OK   ")), line
    assert "(use --network)" in lines["gateway"]
    assert f"redis://:***@127.0.0.1:{farm.redis.port}/0 (auth ok)" in lines["redis"]
    assert farm.env["FARM_QUEUE"] in lines["workers"]
    assert "ADAPTER_TOKEN accepted" in lines["adapter"]


def test_network_lists_the_gateways_models_and_probes_it_through_the_adapter(farm: Farm, scripted_gateway):
    scripted_gateway.add_scenario(PROBE)
    code, lines = run_doctor(
        farm, "--network", ONEAPI_BASE_URL=scripted_gateway.url, ONEAPI_API_KEY=GATEWAY_KEY
    )
    assert code == 0, lines
    assert lines["gateway"].startswith("OK   gateway      answers at "), lines["gateway"]
    assert lines["probe-on"].startswith("OK   probe-on     generic profile, "), lines["probe-on"]
    assert "reasoning round trip ok" in lines["probe-on"] and "streamed usage" in lines["probe-on"]
    # The farm's scripted gateway plays generic, which reasons whatever is asked: the probe says so.
    assert lines["probe-off"].startswith("WARN probe-off") and "still reasoned" in lines["probe-off"], lines[
        "probe-off"
    ]
    assert [r["scenario"] for r in scripted_gateway.requests()] == ["probe"] * 4


def test_redis_down_is_named_and_workers_are_not_asked(farm: Farm):
    code, lines = run_doctor(farm, REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0")
    assert code != 0
    assert lines["redis"].startswith("FAIL") and "connection refused" in lines["redis"], lines["redis"]
    assert "start Redis or fix REDIS_URL" in lines["redis"]
    assert lines["workers"].startswith("FAIL") and "Redis is not usable" in lines["workers"], lines["workers"]


def test_a_wrong_redis_password_is_named(farm: Farm):
    code, lines = run_doctor(
        farm, REDIS_URL=f"redis://:not-the-{REDIS_PASSWORD}@127.0.0.1:{farm.redis.port}/0"
    )
    assert code != 0
    assert lines["redis"].startswith("FAIL") and "wrong password" in lines["redis"], lines["redis"]
    assert "not-the-" not in lines["redis"]


def test_a_redis_url_without_the_password_is_named(farm: Farm):
    code, lines = run_doctor(farm, REDIS_URL=f"redis://127.0.0.1:{farm.redis.port}/0")
    assert code != 0
    assert "requires a password" in lines["redis"], lines["redis"]


def test_a_missing_claude_cli_is_named(farm: Farm):
    code, lines = run_doctor(farm, CLAUDE_CLI_PATH="/nonexistent/claude")
    assert code != 0
    assert (
        lines["claude-cli"].startswith("FAIL") and "not found at /nonexistent/claude" in lines["claude-cli"]
    ), lines
    others = [line for name, line in lines.items() if name not in ("claude-cli", "gateway-key")]
    assert all(line.startswith(("OK", "SKIP", "INFO")) for line in others), lines


def test_a_queue_without_a_worker_is_named_with_the_command_to_fix_it(farm: Farm):
    code, lines = run_doctor(farm, FARM_QUEUE=f"{farm.env['FARM_QUEUE']},nobody-listens")
    assert code != 0
    assert lines["workers"].startswith("FAIL"), lines["workers"]
    assert "no worker consumes queue(s) nobody-listens" in lines["workers"]
    assert "start codex-farm worker --queues nobody-listens" in lines["workers"]


def test_an_invalid_queue_name_and_an_unknown_adapter_token_fail(farm: Farm):
    code, lines = run_doctor(farm, FARM_QUEUE="has space", ADAPTER_TOKEN="adapter-token-unknown-0123")
    assert code != 0
    assert lines["queues"].startswith("FAIL") and "'has space'" in lines["queues"], lines["queues"]
    assert "rejected (401)" in lines["adapter"] and "ADAPTER_TOKENS" in lines["adapter"], lines["adapter"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw-123456@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://default:pw-123456@host:6380/1", "rediss://default:***@host:6380/1"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("unix:///run/redis.sock?db=0&password=pw-123456", "unix:///run/redis.sock?db=0&password=***"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str):
    assert mask_url(url) == shown


def test_bwrap_asked_for_but_missing_is_a_warning_naming_the_fix(farm: Farm, tmp_path):
    tools = tmp_path / "bin"  # git only: the sandbox check must not find bwrap
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git"))
    code, lines = run_doctor(farm, WORKER_SANDBOX="bwrap", PATH=str(tools))
    assert code == 0, lines
    assert lines["isolation"].startswith("WARN isolation"), lines["isolation"]
    assert "bwrap is not on PATH; jobs run unsandboxed" in lines["isolation"]
    assert (
        "apt-get install bubblewrap" in lines["isolation"]
        and "user.max_user_namespaces" in lines["isolation"]
    )
    others = [line for name, line in lines.items() if name not in ("isolation", "gateway-key")]
    assert all(line.startswith(("OK", "SKIP", "INFO signing")) for line in others), lines


def test_a_required_but_missing_bwrap_fails(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = check_isolation(WorkerSettings(WORKER_SANDBOX="bwrap", WORKER_SANDBOX_REQUIRED=True))
    assert result.status == "FAIL" and "required but unusable: bwrap is not on PATH" in result.detail, result
    assert "apt-get install bubblewrap" in result.line()


def test_the_isolation_line_of_a_working_bwrap_is_ok():
    require_bwrap()
    result = check_isolation(WorkerSettings(WORKER_SANDBOX="bwrap"))
    assert result.status == "OK" and result.detail.startswith("bwrap sandbox works"), result


def test_a_line_shows_the_hint_only_on_failure():
    assert (
        CheckResult("redis", False, "connection refused", "start Redis").line()
        == "FAIL redis        connection refused — start Redis"
    )
    assert CheckResult("git", True, "git version 2", "unused").line() == "OK   git          git version 2"
    assert (
        CheckResult("isolation", True, "unusable", "install it", note="WARN").line()
        == "WARN isolation    unusable — install it"
    )


def test_a_redis_that_never_answers_is_a_timeout(monkeypatch: pytest.MonkeyPatch):
    import socket

    monkeypatch.setattr(doctor, "REDIS_TIMEOUT_S", 0.3)
    with socket.socket() as silent:  # accepts connections (kernel backlog) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"redis://:pw-silent-123@127.0.0.1:{silent.getsockname()[1]}/0"
        result = doctor.check_redis(FarmSettings(REDIS_URL=url))
    assert not result.ok and "timed out" in result.detail, result
    assert "pw-silent-123" not in result.line()


def test_the_signing_line_checks_the_files_and_names_what_is_wrong(tmp_path):
    files = make_signing_files(tmp_path / "good")
    assert check_signing(FarmSettings(**files.env())).line().startswith("OK   signing")
    other = make_signing_files(tmp_path / "other")
    mismatched = {**files.env(), "FARM_SIGNING_CERT_FILE": str(other.cert)}
    result = check_signing(FarmSettings(**mismatched))
    assert not result.ok and "is not the certificate of FARM_SIGNING_KEY_FILE" in result.line(), result.line()
    partial = {"FARM_SIGNING_KEY_FILE": str(files.key)}
    assert (
        "not set: FARM_SIGNING_CERT_FILE, FARM_SIGNING_CERT_STORE"
        in check_signing(FarmSettings(**partial)).line()
    )


def test_the_profiles_line_names_each_backend_models_profile_and_why():
    adapter = AdapterSettings(
        upstream_base_url="https://relay.example/v1",
        default_model="deepseek-v4-flash",
        model_map={
            "haiku": {"model": "qwen3-coder", "thinking": "off"},
            "opus": {"model": "x-large", "profile": "glm"},
        },
    )
    line = check_profiles(adapter).line()
    assert line.startswith("OK   profiles")
    assert "default → deepseek-v4-flash: deepseek (inferred)" in line
    assert (
        "haiku → qwen3-coder: qwen (inferred, thinking off)" in line
        and "opus → x-large: glm (model map)" in line
    )


# --- can agents reach the gateway key? -------------------------------------------------------------

KEY_REACH = """\
import json
from codex_farm.doctor import check_gateway_key_reach
from tasks.settings import WorkerSettings
result = check_gateway_key_reach(WorkerSettings(WORKER_SANDBOX="none"))
print(json.dumps([result.status, result.detail, result.hint]))
"""


def key_reach_as_unprivileged() -> tuple[str, str, str]:
    """The gateway-key check as a worker's user without capabilities sees it (see
    tests/fixtures/unprivileged.py)."""
    done = subprocess.run(
        unprivileged([sys.executable, "-c", KEY_REACH]), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return tuple(json.loads(done.stdout))


def test_agents_with_cap_sys_ptrace_are_warned_about():
    if os.geteuid() != 0:
        pytest.skip("needs a root test run: only root holds CAP_SYS_PTRACE here")
    result = check_gateway_key_reach(WorkerSettings(WORKER_SANDBOX="none"))
    assert result.status == "WARN" and "CAP_SYS_PTRACE (root)" in result.detail, result
    assert "WORKER_SANDBOX=bwrap" in result.hint


def test_an_adapter_of_the_agents_user_with_a_readable_environment_is_warned_about(tmp_path):
    # An adapter as old ones ran (dumpable): a process named like one, of the same user and capabilities.
    fake = tmp_path / "codex-farm"
    fake.write_text("import time\ntime.sleep(120)\n")
    adapter = subprocess.Popen(unprivileged([sys.executable, str(fake), "adapter", "--port", "1"]))
    try:
        assert wait_until(lambda: b"adapter" in Path(f"/proc/{adapter.pid}/cmdline").read_bytes(), timeout=10)
        status, detail, hint = key_reach_as_unprivileged()
    finally:
        adapter.kill()
        adapter.wait()
    assert status == "WARN" and f"{adapter.pid}" in detail and "readable environment" in detail, detail
    assert "its own user" in hint


def test_a_current_adapter_of_the_agents_user_is_not_warned_about(scripted_gateway, tmp_path):
    port = free_port()
    env = {
        "ONEAPI_BASE_URL": scripted_gateway.url,
        "ONEAPI_API_KEY": GATEWAY_KEY,
        "ADAPTER_TOKENS": "doctor-test-token",
    }
    argv = unprivileged([sys.executable, "-m", "codex_farm", "adapter", "--port", str(port)])
    adapter = start_server(argv, env, tmp_path / "adapter.log", port, "/healthz")
    try:
        status, detail, _ = key_reach_as_unprivileged()
    finally:
        adapter.stop()
    assert status == "OK" and f"{adapter.process.pid}" in detail and "non-dumpable" in detail, detail


def test_sandboxed_agents_see_no_adapter_at_all():
    require_bwrap()
    result = check_gateway_key_reach(WorkerSettings(WORKER_SANDBOX="bwrap"))
    assert result.status == "OK" and "bwrap sandbox" in result.detail, result


def test_an_unknown_tool_group_fails_the_settings_check(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FARM_TOOLS", "core,bogus")
    result = doctor.check_settings(doctor.load_settings())
    assert result.status == "FAIL", result
    assert (
        "FrontendSettings: FARM_TOOLS: Value error, unknown tool group 'bogus'; "
        "valid groups: core, read, edit, review, or all" in result.detail
    )
