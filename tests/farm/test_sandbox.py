"""`WORKER_SANDBOX=bwrap`: the agent's Bash tool and the checks cannot write outside the worktree or read
the worker's environment; the same job on an unsandboxed worker can (so these tests can fail)."""

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from farm_core.process_tree import find_job_processes
from tasks.agent_env import bundled_cli
from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_worker, stop_worker
from tests.fixtures.machine_tools import require_bwrap
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.waiting import wait_until


@pytest.fixture(autouse=True)
def _bwrap_works() -> None:
    require_bwrap()


@dataclass
class Box:
    """A worker host on its own queue and cache; agents may use bypassPermissions (their Bash runs
    unasked)."""

    env: dict[str, str]
    cache: Path
    worker_pid: int


def start_box(farm: Farm, root: Path, **settings: str) -> tuple[Box, subprocess.Popen]:
    cache = root / "cache"
    env = farm_env(farm.redis, farm.adapter, farm.sandbox, cache, queue="sb" + secrets.token_hex(3))
    env.update(ALLOW_BYPASS_PERMISSIONS="1", **settings)
    worker = start_worker(env, root / "worker.log")
    return Box(env, cache, worker.pid), worker


@pytest.fixture(scope="module")
def sandboxed(farm: Farm, tmp_path_factory) -> Iterator[Box]:
    box, worker = start_box(farm, tmp_path_factory.mktemp("sandboxed"), WORKER_SANDBOX="bwrap")
    yield box
    stop_worker(worker)


@pytest.fixture(scope="module")
def unsandboxed(farm: Farm, tmp_path_factory) -> Iterator[Box]:
    """The same, without the sandbox. The CLI refuses bypassPermissions as root unless told it runs in a
    sandbox (IS_SANDBOX=1, which the bwrap sandbox sets); a wrapper says so, as an operator whose whole
    box is throwaway would, so the only difference from `sandboxed` is WORKER_SANDBOX."""
    root = tmp_path_factory.mktemp("unsandboxed")
    cli = root / "claude"
    cli.write_text(f'#!/bin/sh\nIS_SANDBOX=1 exec "{bundled_cli()}" "$@"\n')
    cli.chmod(0o755)
    box, worker = start_box(farm, root, WORKER_SANDBOX="none", CLAUDE_CLI_PATH=str(cli))
    yield box
    stop_worker(worker)


def bash(command: str) -> dict:
    return {"tool_calls": [{"name": "Bash", "arguments": {"command": command, "description": "step"}}]}


def escape_scenario(name: str, outside: Path, planted: Path, worker_pid: int) -> dict:
    """Write in the worktree, then next to the repo, into the worker cache, and read the worker's
    environment."""
    return {
        "name": name,
        "turns": [
            bash("echo inside > {cwd}/inside.txt"),
            bash(f"echo outside > {outside}"),
            bash(f"echo planted > {planted}"),
            bash(f"tr '\\0' '\\n' < /proc/{worker_pid}/environ | grep -c '^REDIS_URL='"),
            {"text": "Done."},
        ],
    }


async def run_escape_job(
    farm: Farm, env: dict, scripted_gateway, make_repo, cache: Path, worker_pid: int
) -> tuple[dict, list[str], Path, Path, Path]:
    """The escape scenario as one job, with a check that writes next to the repo; its result, log and the
    three outside paths."""
    tag = secrets.token_hex(4)
    outside, planted = farm.sandbox / f"outside-{tag}.txt", cache / f"planted-{tag}.txt"
    check_outside = farm.sandbox / f"check-outside-{tag}.txt"
    scripted_gateway.add_scenario(escape_scenario(f"escape_{tag}", outside, planted, worker_pid))
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)
    check = {"name": "escape", "command": f"touch {check_outside}"}
    async with connect_mcp(farm, **env) as client:
        # bypassPermissions: the CLI's own guard would refuse these commands; the sandbox must hold without
        # it.
        arguments = {
            "prompt": f"Try it. [[scenario:escape_{tag}]]",
            "repo": str(repo),
            "checks": [check],
            "permission_mode": "bypassPermissions",
        }
        started = await call_ok(client, "start", arguments)
        done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 100000})
        tail = await call_ok(client, "tail", {"job_id": started["job_id"], "lines": 500})
    return done, tail["lines"], outside, planted, check_outside


def results_of(lines: list[str]) -> list[str]:
    """The Bash tool's results in the job log, in order (errors included)."""
    return [line for line in lines if " tool_result: " in line or " tool_error: " in line]


async def test_sandboxed_agent_and_checks_write_only_the_worktree(
    farm, sandboxed, scripted_gateway, make_repo
):
    done, lines, outside, planted, check_outside = await run_escape_job(
        farm, sandboxed.env, scripted_gateway, make_repo, sandboxed.cache, sandboxed.worker_pid
    )

    assert done["job_status"] == "completed", "\n".join(lines)
    assert done["changed_files"] == ["inside.txt"]
    assert done["checks"] == ["escape: failed"]
    assert not outside.exists() and not planted.exists() and not check_outside.exists()
    assert any("sandbox: bwrap" in line for line in lines), lines
    results = results_of(lines)
    assert len(results) == 4, results
    assert "Read-only file system" in results[1] and "Read-only file system" in results[2], results
    assert (
        "No such file or directory" in results[3] and f"/proc/{sandboxed.worker_pid}/environ" in results[3]
    ), results
    assert any("check" in line and "Read-only file system" in line for line in lines), lines


async def test_unsandboxed_agent_and_checks_can_write_outside(farm, unsandboxed, scripted_gateway, make_repo):
    done, lines, outside, planted, check_outside = await run_escape_job(
        farm, unsandboxed.env, scripted_gateway, make_repo, unsandboxed.cache, unsandboxed.worker_pid
    )
    try:
        assert done["job_status"] == "completed", "\n".join(lines)
        assert done["changed_files"] == ["inside.txt"]
        assert done["checks"] == ["escape: passed"]
        assert (
            outside.read_text() == "outside\n"
            and planted.read_text() == "planted\n"
            and check_outside.exists()
        )
        results = results_of(lines)
        assert len(results) == 4, results
        assert results[3].endswith("tool_result: 1"), results  # the worker's REDIS_URL was readable
    finally:
        for path in (outside, planted, check_outside):
            path.unlink(missing_ok=True)


async def test_cancel_kills_the_whole_sandbox(farm, sandboxed, scripted_gateway, make_repo):
    scripted_gateway.add_scenario(
        {"name": "sandbox_stall", "turns": [{"text": "Done.", "faults": [{"stall_ms": 30000}]}]}
    )
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)
    async with connect_mcp(farm, **sandboxed.env) as client:
        started = await call_ok(
            client, "start", {"prompt": "Wait. [[scenario:sandbox_stall]]", "repo": str(repo)}
        )
        job_id = started["job_id"]
        pidfile = sandboxed.cache / "homes" / job_id / "agent.pid"
        cli_started = lambda: any(command_of(pid).startswith("claude ") for pid in find_job_processes(job_id))  # noqa: E731
        assert wait_until(cli_started, timeout=60), "the CLI should run inside the sandbox"
        agent_pid = int(pidfile.read_text())
        commands = {pid: command_of(pid) for pid in find_job_processes(job_id)}
        await call_ok(client, "cancel", {"job_id": job_id})
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 20000})

    assert commands[agent_pid].startswith("bwrap"), commands  # the pidfile holds the killable sandbox
    assert any(command.startswith("claude ") for command in commands.values()), commands
    assert done["job_status"] == "cancelled"
    assert wait_until(lambda: find_job_processes(job_id) == [], timeout=10)
    assert all(command_of(pid) == "" for pid in commands), "every process of the sandbox should be gone"


def command_of(pid: int) -> str:
    """The command line of a live process (its program's base name first), or "" once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    parts = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return " ".join([Path(parts[0]).name, *parts[1:]]) if parts else ""


def git_dir_escape_scenario(name: str, evidence: Path) -> dict:
    """The `.git` escape: a git dir of the agent's own with an fsmonitor that records who runs it, named in
    `.git`."""
    admin = "$(sed 's/^gitdir: //' .git)"
    return {
        "name": name,
        "turns": [
            bash(f"printf '#!/bin/sh\\n(id; env) >> {evidence}\\n' > $HOME/h.sh && chmod +x $HOME/h.sh"),
            bash(
                f"git init -q --bare $HOME/fg && cp {admin}/HEAD {admin}/index $HOME/fg/ && echo "
                f"{admin}/../../objects > $HOME/fg/objects/info/alternates && git --git-dir=$HOME/fg "
                "config core.bare false && git --git-dir=$HOME/fg config core.fsmonitor $HOME/h.sh"
            ),
            bash('echo "gitdir: $HOME/fg" > .git; cat .git'),
            bash("echo changed >> README.md"),
            {"text": "Done."},
        ],
    }


async def run_git_dir_escape(
    farm: Farm, env: dict, scripted_gateway, make_repo
) -> tuple[dict, list[str], Path]:
    tag = secrets.token_hex(4)
    evidence = farm.sandbox / f"git-hook-ran-{tag}.txt"
    scripted_gateway.add_scenario(git_dir_escape_scenario(f"git_escape_{tag}", evidence))
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)
    async with connect_mcp(farm, **env) as client:
        arguments = {
            "prompt": f"Try it. [[scenario:git_escape_{tag}]]",
            "repo": str(repo),
            "permission_mode": "bypassPermissions",
        }
        started = await call_ok(client, "start", arguments)
        done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 100000})
        tail = await call_ok(client, "tail", {"job_id": started["job_id"], "lines": 500})
    return done, tail["lines"], evidence


async def test_sandboxed_agent_cannot_point_dot_git_at_a_git_dir_of_its_own(
    farm, sandboxed, scripted_gateway, make_repo
):
    done, lines, evidence = await run_git_dir_escape(farm, sandboxed.env, scripted_gateway, make_repo)

    assert not evidence.exists(), evidence.read_text()
    results = results_of(lines)
    assert len(results) == 4, results
    assert "gitdir: " in results[2] and ("Read-only file system" in results[2] or "busy" in results[2]), (
        results
    )
    assert done["job_status"] == "completed", "\n".join(lines)
    assert done["changed_files"] == ["README.md"]


async def test_unsandboxed_agent_that_points_dot_git_elsewhere_runs_no_hook_and_fails_tampered(
    farm, unsandboxed, scripted_gateway, make_repo
):
    done, lines, evidence = await run_git_dir_escape(farm, unsandboxed.env, scripted_gateway, make_repo)
    try:
        assert not evidence.exists(), evidence.read_text()  # the worker's git never read the agent's git dir
        results = results_of(lines)
        assert len(results) == 4 and results[2].endswith("/fg"), results  # the `.git` file was rewritten
        assert done["job_status"] == "failed", "\n".join(lines)
        assert "worktree_tampered: the worktree's .git file was changed" in done["error"]
        assert done["changed_files"] == []
    finally:
        evidence.unlink(missing_ok=True)


async def test_a_sandboxed_job_reads_no_cache_of_another_worker_on_the_host(
    farm, scripted_gateway, make_repo, tmp_path
):
    registry = tmp_path / "registry"
    # Another worker of this host, on its own cache, ran and stopped: its cache keeps another tenant's
    # worktree and transcript. Both workers record their caches in the same registry, as every worker does.
    (tmp_path / "other").mkdir()
    other, other_worker = start_box(farm, tmp_path / "other", WORKER_CACHE_REGISTRY=str(registry))
    stop_worker(other_worker)
    secret = "their-source-" + secrets.token_hex(4)
    their_file = other.cache / "worktrees" / "their-job" / "app.py"
    transcript = other.cache / "homes" / "their-job" / ".claude" / "projects" / "session.jsonl"
    for path in (their_file, transcript):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secret + "\n")
    (tmp_path / "mine").mkdir()
    box, worker = start_box(
        farm, tmp_path / "mine", WORKER_SANDBOX="bwrap", WORKER_CACHE_REGISTRY=str(registry)
    )
    tag = secrets.token_hex(4)
    scripted_gateway.add_scenario(
        {
            "name": f"peek_{tag}",
            "turns": [
                bash(f"cat {their_file} || echo 'worktree: hidden'"),
                bash(f"cat {transcript} || echo 'transcript: hidden'"),
                bash(f"ls -A {other.cache} | wc -l"),
                {"text": "Done."},
            ],
        }
    )
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)
    try:
        async with connect_mcp(farm, **box.env) as client:
            arguments = {
                "prompt": f"Peek. [[scenario:peek_{tag}]]",
                "repo": str(repo),
                "permission_mode": "bypassPermissions",
            }
            started = await call_ok(client, "start", arguments)
            done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 100000})
            lines = (await call_ok(client, "tail", {"job_id": started["job_id"], "lines": 500}))["lines"]
    finally:
        stop_worker(worker)

    results = results_of(lines)
    assert done["job_status"] == "completed", "\n".join(lines)
    assert any("sandbox: bwrap" in line for line in lines), lines
    assert len(results) == 3, results
    assert not any(secret in line for line in lines), "a sandboxed job read another worker's cache"
    assert "worktree: hidden" in results[0] and "transcript: hidden" in results[1], results
    assert results[2].endswith("tool_result: 0"), results  # the other cache shows empty
