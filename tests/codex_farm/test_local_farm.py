"""`codex-farm up` keeps the gateway key out of reach of the user's other processes (an unsandboxed agent is
one): not in the adapter's environment or command line, in no file once the adapter has it, and neither the
adapter's nor up's own /proc files readable without CAP_SYS_PTRACE."""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from codex_farm.up import PIDS_FILE
from tests.codex_farm.process_tree import descendants, kill_all
from tests.fixtures.planted import GATEWAY_KEY, plant
from tests.fixtures.processes import free_port
from tests.fixtures.unprivileged import read_as_unprivileged, unprivileged

READY_LINE = "Ctrl-C stops everything."
READY_TIMEOUT_S = 90
# What the test's own shell may carry that would point `up` at another farm or give it another key.
OUTSIDE_SETTINGS = (
    "REDIS_URL",
    "FARM_MCP_TOKEN",
    "FARM_EMBEDDED_REDIS",
    "SANDBOX_ROOT",
    "ADAPTER_URL",
    "ADAPTER_TOKEN",
    "WORKER_CACHE_DIR",
    "FARM_QUEUE",
    "FARM_KEY_PREFIX",
    "WORKER_METRICS_FILE",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "ONEAPI_BASE_URL",
    "ONEAPI_API_KEY",
    "ANTHROPIC_API_KEY",
    "FALLBACK_API_KEY",
    "FALLBACK_BASE_URL",
)


def user_env(root: Path, **extra: str) -> dict[str, str]:
    """A user's shell with its own HOME, XDG folders and TMPDIR under root, and no farm settings."""
    (root / "home").mkdir()
    tag = secrets.token_hex(4)
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SETTINGS}
    env.update(
        HOME=str(root / "home"),
        TMPDIR=str(root),
        XDG_CACHE_HOME=str(root / "cache"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_STATE_HOME=str(root / "state"),
        FARM_QUEUE=f"up-{tag}",
        FARM_KEY_PREFIX=f"farm-up-{tag}:",
        **extra,
    )
    return env


def wait_for_ready(process: subprocess.Popen, output: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while READY_LINE not in (text := output.read_text(errors="replace")):
        assert process.poll() is None, f"up exited with {process.returncode}:\n{text}"
        assert time.monotonic() < deadline, f"up was not ready after {READY_TIMEOUT_S} s:\n{text}"
        time.sleep(0.2)
    return text


def adapter_token(env: dict[str, str]) -> str:
    exports = subprocess.run(
        [sys.executable, "-m", "codex_farm", "env"], env=env, capture_output=True, text=True, timeout=30
    )
    assert exports.returncode == 0, exports.stderr
    return plant(
        "up adapter token", re.search(r"^export ADAPTER_TOKEN=(\S+)", exports.stdout, re.MULTILINE).group(1)
    )


def files_holding(folder: Path, secret: str) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_up_gives_the_adapter_its_key_out_of_reach_of_the_users_other_processes(scripted_gateway, tmp_path):
    # the adapter must really hold the key: any other is refused
    scripted_gateway.configure(api_key=GATEWAY_KEY)
    scripted_gateway.add_scenario({"name": "up_key", "turns": [{"text": "keyed"}]})
    env = user_env(tmp_path, ONEAPI_BASE_URL=scripted_gateway.url, ONEAPI_API_KEY=GATEWAY_KEY)
    argv = [
        sys.executable,
        "-m",
        "codex_farm",
        "up",
        "--mcp-port",
        str(free_port()),
        "--adapter-port",
        str(free_port()),
        "--concurrency",
        "1",
    ]
    output = tmp_path / "up.log"  # a log: the session's leak scan reads it too
    with open(output, "w") as out:
        process = subprocess.Popen(
            unprivileged(argv), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    tree = set()
    try:
        text = wait_for_ready(process, output)
        tree = descendants(process.pid)
        run_dir = Path(re.search(r"^logs:\s+(\S+)", text, re.MULTILINE).group(1))
        pids = json.loads((run_dir / PIDS_FILE).read_text())
        adapter = read_as_unprivileged(pids["adapter"], "environ", "cmdline")
        up = read_as_unprivileged(process.pid, "environ")
        worker = read_as_unprivileged(pids["worker"], "environ")
        left = files_holding(run_dir, GATEWAY_KEY)
        url = re.search(r"^  adapter: (\S+)$", text, re.MULTILINE).group(1)
        body = {
            "model": "m",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "[[scenario:up_key]] hi"}],
        }
        answer = httpx.post(
            url + "/v1/messages", headers={"x-api-key": adapter_token(env)}, json=body, timeout=30
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        kill_all(tree)

    assert not adapter["environ"].holds(GATEWAY_KEY), (
        "a same-user process read the gateway key from the adapter's environ"
    )
    assert (
        adapter["environ"].error == "PermissionError"
        and adapter["cmdline"].data
        and not adapter["cmdline"].holds(GATEWAY_KEY)
    )
    assert up["environ"].error == "PermissionError", (
        "up holds the key from the user's shell: its environ must be closed too"
    )
    assert worker["environ"].error == "PermissionError", (
        "the worker's environ (REDIS_URL, ADAPTER_TOKEN) must be closed too"
    )
    assert left == [], f"files still holding the key once the adapter ran: {left}"
    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == "keyed", answer.text
