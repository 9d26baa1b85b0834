"""`codex-farm up --scripted` as a user runs it: every MCP tool answers over HTTP behind the printed token,
the token and sandbox root survive a restart, `codex-farm env` points doctor at the farm, and Ctrl-C stops
every child.

Each `up` runs with its own HOME, XDG folders and TMPDIR under pytest's tmp dir, so the user's config is
never touched.
"""

import json
import os
import queue
import re
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from codex_farm.env_cli import NOT_RUNNING
from codex_farm.local_state import FILE_MODE, LocalPaths
from codex_farm.up import PIDS_FILE, READY_HEADLINE
from tests.codex_farm.process_tree import ProcessId, alive, descendants, kill_all
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.planted import GATEWAY_KEY, plant
from tests.fixtures.processes import free_port

READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 60
JOB_WAIT_MS = 90_000
HTTP_TIMEOUT_S = 120  # above JOB_WAIT_MS: a blocking wait or shell call must not time out in the client
READY_LINE = "Ctrl-C stops everything."
ZERO_USAGE = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
# What a user's shell may carry that would point `up` (or doctor) somewhere other than the farm under test.
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
)


class Output:
    """The lines a child prints, collected by a thread so reads never block the test."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)

    def text(self) -> str:
        while not self._queue.empty():
            self.lines.append(self._queue.get_nowait())
        return "".join(self.lines)

    def wait_for(self, needle: str, process: subprocess.Popen, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while needle not in self.text():
            assert process.poll() is None, f"up exited with {process.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {needle!r} after {timeout_s} s:\n{self.text()}"
            time.sleep(0.1)
        return self.text()


@dataclass
class RunningUp:
    """One `codex-farm up` child, what it printed once ready, and every process it started."""

    process: subprocess.Popen
    output: Output
    env: dict[str, str]
    tree: set[ProcessId] = field(default_factory=set)

    @property
    def ready_text(self) -> str:
        return self.output.text()

    def printed(self, pattern: str) -> str:
        match = re.search(pattern, self.ready_text, re.MULTILINE)
        assert match, f"no {pattern!r} in:\n{self.ready_text}"
        return match.group(1)

    @property
    def mcp_url(self) -> str:
        return self.printed(r"^  MCP URL: (\S+)")

    @property
    def token(self) -> str:
        return self.printed(r"export FARM_MCP_TOKEN=(\S+)")

    @property
    def sandbox_root(self) -> Path:
        return Path(self.printed(r"^  sandbox: (\S+)"))

    @property
    def run_dir(self) -> Path:
        return Path(self.printed(r"^logs:\s+(\S+)"))

    def stop(self) -> int:
        """SIGINT, as Ctrl-C; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    def kill_leftovers(self) -> None:
        """Stop whatever is still running of this up, by PID (teardown, after a failure)."""
        self.tree |= descendants(self.process.pid) if self.process.poll() is None else set()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        kill_all(self.tree)


def user_env(root: Path, **extra: str) -> dict[str, str]:
    """A user's environment with its own HOME, cache and TMPDIR under root, and none of the farm settings."""
    home = root / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SETTINGS}
    tag = secrets.token_hex(4)
    env.update(
        HOME=str(home),
        TMPDIR=str(root),
        XDG_CACHE_HOME=str(root / "cache"),
        FARM_QUEUE=f"up-{tag}",
        FARM_KEY_PREFIX=f"farm-up-{tag}:",
    )
    env.update(extra)
    return env


def start_up(env: dict[str, str], *flags: str) -> RunningUp:
    """`codex-farm up --scripted` on free ports, returned once it printed its ready block."""
    argv = [
        sys.executable,
        "-m",
        "codex_farm",
        "up",
        "--scripted",
        "--mcp-port",
        str(free_port()),
        "--adapter-port",
        str(free_port()),
        "--concurrency",
        "1",
        *flags,
    ]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = RunningUp(process, Output(process), env)
    try:
        running.output.wait_for(READY_LINE, process, READY_TIMEOUT_S)
    except BaseException:
        running.kill_leftovers()
        raise
    running.tree = descendants(process.pid)
    plant("up mcp token", running.token)  # the leak scan looks for it in every log and tool response
    return running


def codex_farm_env(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "codex_farm", "env"], env=env, capture_output=True, text=True, timeout=30
    )


def doctor_after_eval(env: dict[str, str]) -> str:
    """`eval "$(codex-farm env)"` then `codex-farm doctor`, in a shell whose environment names no farm at
    all."""
    shell_env = {k: v for k, v in env.items() if k not in OUTSIDE_SETTINGS} | {"PY": sys.executable}
    script = 'eval "$("$PY" -m codex_farm env)" || exit 99; "$PY" -m codex_farm doctor'
    done = subprocess.run(["bash", "-c", script], env=shell_env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 99, done.stderr
    return done.stdout


def plant_farm_secrets(exports: str) -> None:
    """Register the farm's Redis password and adapter token, read from `codex-farm env`, with the leak
    scan."""
    plant(
        "up redis password", re.search(r"^export REDIS_URL=redis://:([^@]+)@", exports, re.MULTILINE).group(1)
    )
    plant("up adapter token", re.search(r"^export ADAPTER_TOKEN=(\S+)", exports, re.MULTILINE).group(1))


# --- one up for the tool tour ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> Iterator[RunningUp]:
    """One `up` with the default sandbox root (the home directory) and config under XDG_CONFIG_HOME, serving
    every tool group (the tour calls them all)."""
    root = tmp_path_factory.mktemp("up-user")
    running = start_up(user_env(root, XDG_CONFIG_HOME=str(root / "config"), FARM_TOOLS="all"))
    yield running
    try:
        assert running.stop() == 0, running.output.text()
    finally:
        running.kill_leftovers()


class ToolTour:
    """Calls tools through one MCP client and remembers which it called."""

    def __init__(self, client: Client):
        self.client, self.called = client, set()

    async def ok(self, tool: str, arguments: dict) -> dict:
        self.called.add(tool)
        return await call_ok(self.client, tool, arguments)


async def tour_every_tool(url: str, token: str, repo: Path) -> tuple[set[str], set[str]]:
    """Call each tool with valid arguments, in the order a user would; (tools listed, tools called)."""
    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S
    ) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            tour = ToolTour(client)
            await job_tools(tour, repo)
            await cheap_tools(tour, repo)
            await code_tools(tour, repo)
            await cancel_a_queued_job(tour, repo)
            rows = (await tour.ok("list_jobs", {}))["jobs"]
            assert len(rows) == 3, rows  # the scripted job, the shell command and the cancelled job
            return listed, tour.called


async def job_tools(tour: ToolTour, repo: Path) -> None:
    """start → tail → wait → get → get_artifact_slice → diff_digest → review → apply, on a scripted job."""
    check = {"name": "wrote", "command": "test -f hello.txt", "timeout_ms": 30_000}
    started = await tour.ok(
        "start", {"prompt": "Write hello.txt [[scenario:write_file]]", "repo": str(repo), "checks": [check]}
    )
    job_id = started["job_id"]
    await tour.ok("tail", {"job_id": job_id})
    done = await tour.ok("wait", {"job_id": job_id, "timeout_ms": JOB_WAIT_MS})
    assert done["job_status"] == "completed" and done["checks"] == ["wrote: passed"], done
    # scripted: no real tokens
    assert done["changed_files"] == ["hello.txt"] and done["usage"] == ZERO_USAGE, done
    assert (await tour.ok("get", {"job_id": job_id, "include_diff": True}))["job_status"] == "completed"
    assert (await tour.ok("tail", {"job_id": job_id}))["lines"]
    assert (await tour.ok("get_artifact_slice", {"job_id": job_id, "artifact": "patch"}))["text"]
    assert await tour.ok("diff_digest", {"job_id": job_id})
    # The focus comes first in review's prompt, so its marker picks the scripted JSON verdict.
    review = await tour.ok("review", {"job_id": job_id, "focus": "[[scenario:review]]"})
    assert review["verdict"] == "accept" and review["usage"] == ZERO_USAGE, review
    applied = await tour.ok("apply", {"job_id": job_id})
    assert applied["applied"] and (repo / "hello.txt").read_text() == "hello\n", applied


async def cheap_tools(tour: ToolTour, repo: Path) -> None:
    """analyze and draft: one call each through the adapter to the scripted model (its canned hello)."""
    analyzed = await tour.ok(
        "analyze", {"question": "What does greet return?", "files": ["src/app.py"], "repo": str(repo)}
    )
    assert analyzed["answer"] == "Hello from the scripted gateway." and analyzed["usage"] == ZERO_USAGE, (
        analyzed
    )
    drafted = await tour.ok("draft", {"kind": "commit", "repo": str(repo)})
    assert drafted["text"] == "Hello from the scripted gateway.", drafted


async def code_tools(tour: ToolTour, repo: Path) -> None:
    """The zero-model tools and shell, on the repo inside the sandbox root."""
    found = await tour.ok("search", {"pattern": "def greet", "paths": [str(repo)]})
    assert [m["line"] for m in found["matches"]] == [1], found
    assert await tour.ok("read_pack", {"paths": [str(repo / "src" / "app.py")], "symbols": ["greet"]})
    assert (await tour.ok("history", {"path": str(repo / "src" / "app.py")}))["commits"]
    edits = [{"path": "src/app.py", "find": "'hello'", "replace": "'hello farm'"}]
    assert (await tour.ok("apply_edits", {"repo": str(repo), "edits": edits}))["edits"] == 1
    assert await tour.ok("diff_digest", {"repo": str(repo)})
    ran = await tour.ok("shell", {"command": "grep -c 'hello farm' src/app.py", "repo": str(repo)})
    assert ran["job_status"] == "completed" and ran["status"] == "passed", ran


async def cancel_a_queued_job(tour: ToolTour, repo: Path) -> None:
    started = await tour.ok("start", {"prompt": "Say hello", "repo": str(repo)})
    cancelled = await tour.ok("cancel", {"job_id": started["job_id"]})
    assert cancelled["cancel_requested"], cancelled
    ended = await tour.ok("wait", {"job_id": started["job_id"], "timeout_ms": JOB_WAIT_MS})
    # it may have finished before the cancel landed
    assert ended["job_status"] in ("cancelled", "completed"), ended


def test_up_defaults_the_sandbox_root_to_home_and_prints_what_a_user_needs(up: RunningUp):
    text = up.ready_text
    assert (
        READY_HEADLINE in text
        and f'url = "{up.mcp_url}"' in text
        and 'bearer_token_env_var = "FARM_MCP_TOKEN"' in text
    )
    assert up.sandbox_root == Path(up.env["HOME"]).resolve()
    paths = LocalPaths.from_env(up.env)
    assert f"(kept in {paths.config_file})" in text and f"state:   {paths.state_file}" in text
    assert re.search(
        r"^  redis:   redis://:\*\*\*@127\.0\.0\.1:\d+/0 \(the password: codex-farm env\); ",
        text,
        re.MULTILINE,
    ), text
    assert re.search(r"^  adapter: http://127\.0\.0\.1:\d+$", text, re.MULTILINE), text
    assert 'In another shell, eval "$(codex-farm env)" points codex-farm doctor, wait and stats' in text
    (offline,) = [line for line in text.splitlines() if line.startswith("  offline: ")]
    for part in (
        "Hello from the scripted gateway.",
        "[[scenario:NAME]]",
        "demo, flaky, hello, probe, review, write_file",
        "ONEAPI_BASE_URL",
        "ONEAPI_API_KEY",
    ):
        assert part in offline, offline
    exports = codex_farm_env(up.env).stdout
    plant_farm_secrets(exports)
    password = re.search(r"redis://:([^@]+)@", exports).group(1)
    assert password not in text


def test_every_tool_from_tools_list_answers_over_http(up: RunningUp):
    repo = up.sandbox_root / "src" / "app"
    repo.mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("def greet():\n    return 'hello'\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")

    listed, called = anyio.run(tour_every_tool, up.mcp_url, up.token, repo)

    assert listed - called == set(), f"tools listed but never called: {sorted(listed - called)}"
    assert called - listed == set()


def test_the_ready_block_names_the_tool_groups_it_serves(up: RunningUp):
    assert up.printed(r"^  tools:   (\S+)") == "core,read,edit,review"  # FARM_TOOLS=all


def test_the_mcp_endpoint_refuses_requests_without_the_printed_token(up: RunningUp):
    assert httpx.post(up.mcp_url, json={}).status_code == 401
    assert httpx.post(up.mcp_url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_second_up_for_the_same_user_is_refused_while_one_runs(up: RunningUp):
    argv = [
        sys.executable,
        "-m",
        "codex_farm",
        "up",
        "--scripted",
        "--mcp-port",
        str(free_port()),
        "--adapter-port",
        str(free_port()),
    ]
    done = subprocess.run(argv, env=up.env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and f"already running (pid {up.process.pid}" in done.stderr, done.stderr
    assert up.process.poll() is None


# --- restart ----------------------------------------------------------------------------------------


def test_a_restart_keeps_token_and_sandbox_root_and_env_points_doctor_at_the_farm(tmp_path: Path):
    # A gateway key in the user's shell: --scripted ignores it, and it must never be written or printed.
    env = user_env(tmp_path, ONEAPI_BASE_URL="http://127.0.0.1:9/v1", ONEAPI_API_KEY=GATEWAY_KEY)
    sandbox = tmp_path / "work"
    sandbox.mkdir()
    paths = LocalPaths.from_env(env)
    first = start_up(env, "--sandbox-root", str(sandbox))
    try:
        assert first.sandbox_root == sandbox.resolve()
        assert stat.S_IMODE(paths.state_file.stat().st_mode) == FILE_MODE
        pids = json.loads((first.run_dir / PIDS_FILE).read_text())
        assert {"adapter", "worker", "mcp", "redis-server"} <= set(pids)
        assert set(pids.values()) - {first.process.pid} <= {pid for pid, _ in first.tree}

        assert first.stop() == 0, first.output.text()
        assert "stopping" in first.output.text()
        assert not [p for p in first.tree if alive(p)], f"left running: {[p for p in first.tree if alive(p)]}"
        assert not paths.state_file.exists()
        stopped = codex_farm_env(env)
        assert (
            stopped.returncode != 0
            and stopped.stdout == ""
            and stopped.stderr.strip() == f"codex-farm env: {NOT_RUNNING}"
        )
    finally:
        first.kill_leftovers()

    second = start_up(env)  # no --sandbox-root: the kept one
    try:
        assert second.token == first.token and second.sandbox_root == sandbox.resolve()
        exports = codex_farm_env(env)
        assert exports.returncode == 0, exports.stderr
        plant_farm_secrets(exports.stdout)
        for written in (
            first.output.text(),
            second.output.text(),
            exports.stdout,
            paths.state_file.read_text(),
            paths.config_file.read_text(),
        ):
            assert GATEWAY_KEY not in written

        report = doctor_after_eval(env)
        lines = {line.split()[1]: line for line in report.splitlines() if len(line.split()) > 1}
        assert lines["redis"].startswith("OK ") and "(auth ok)" in lines["redis"], report
        assert lines["workers"].startswith("OK ") and f"{env['FARM_QUEUE']}: " in lines["workers"], report
        assert lines["adapter"].startswith("OK ") and "ADAPTER_TOKEN accepted" in lines["adapter"], report
        assert lines["sandbox"].startswith("OK ") and str(sandbox.resolve()) in lines["sandbox"], report
        assert second.stop() == 0, second.output.text()
        assert not [p for p in second.tree if alive(p)]
    finally:
        second.kill_leftovers()
