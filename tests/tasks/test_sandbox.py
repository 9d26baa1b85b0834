"""The bwrap sandbox: its command line, the layout of a job, the start-up decision, and real runs in it."""

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import agent_launcher, sandbox
from tasks.agent_env import agent_env, launcher_script
from tasks.cache_registry import caches_to_hide, register_cache
from tasks.sandbox import (
    FIX_HINT,
    SandboxLayout,
    SandboxUnavailable,
    bwrap_argv,
    check_at_start,
    job_layout,
    job_wrapper,
    sandbox_state,
    split_hidden,
)
from tasks.settings import WorkerSettings
from tasks.worktree import WorktreeCache, tampering
from tests.fixtures.git_repos import git
from tests.fixtures.machine_tools import require_bwrap

BASE = [
    "bwrap",
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--cap-drop",
    "ALL",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
]
needs_bwrap = pytest.mark.usefixtures("bwrap_works")


@pytest.fixture
def bwrap_works() -> None:
    require_bwrap()


def fake_bwrap(folder: Path, stderr: str, code: int) -> Path:
    """A `bwrap` on a private PATH that fails like one without user namespaces."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "bwrap"
    program.write_text(f"#!/bin/sh\necho {shlex.quote(stderr)} >&2\nexit {code}\n")
    program.chmod(0o755)
    return program


# --- the command line -----------------------------------------------------------------------------


def test_an_empty_layout_is_the_base_sandbox():
    assert bwrap_argv("bwrap", SandboxLayout()) == [*BASE, "--"]


def test_a_job_layout_hides_first_binds_the_job_last_and_makes_hidden_places_read_only():
    layout = SandboxLayout(
        hidden_dirs=(Path("/etc/farm"),),
        hidden_files=(Path("/home/w/.netrc"),),
        cache_dir=Path("/cache"),
        readable=(Path("/cache/mirrors/a.git"),),
        writable=(Path("/cache/worktrees/j"), Path("/cache/homes/j")),
    )
    assert bwrap_argv("/usr/bin/bwrap", layout) == [
        "/usr/bin/bwrap",
        *BASE[1:],
        "--tmpfs",
        "/etc/farm",
        "--ro-bind",
        "/dev/null",
        "/home/w/.netrc",
        "--tmpfs",
        "/cache",
        "--ro-bind",
        "/cache/mirrors/a.git",
        "/cache/mirrors/a.git",
        "--bind",
        "/cache/worktrees/j",
        "/cache/worktrees/j",
        "--bind",
        "/cache/homes/j",
        "/cache/homes/j",
        "--remount-ro",
        "/etc/farm",
        "--remount-ro",
        "/cache",
        "--",
    ]


def test_the_network_is_kept():
    argv = bwrap_argv("bwrap", SandboxLayout(cache_dir=Path("/c")))
    assert not any(option.startswith("--unshare-net") or option == "--unshare-all" for option in argv)


# --- the layout of a job ----------------------------------------------------------------------------


def test_hidden_paths_split_into_dirs_and_files_and_missing_ones_are_dropped(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("secret")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    dirs, files = split_hidden([tmp_path / "dir", tmp_path / "file", tmp_path / "missing", tmp_path / "link"])
    assert dirs == (tmp_path / "dir",)
    assert files == (tmp_path / "file",)  # the link's target, once


@pytest.fixture
def job(tmp_path, make_repo):
    """A real job worktree from the mirror cache, plus a home, like a worker makes them."""
    cache = WorktreeCache(tmp_path / "cache")
    repo = make_repo({"app.py": "print('hi')\n"})
    worktree = cache.materialize(str(repo), git(repo, "rev-parse", "HEAD").strip(), "job0sandbox1")
    home = tmp_path / "cache" / "homes" / "job0sandbox1"
    (home / "tmp").mkdir(parents=True)
    return cache, worktree, home


def test_a_job_layout_exposes_its_worktree_git_dirs_and_home_only(job):
    cache, worktree, home = job
    layout = job_layout(cache.cache_dir, worktree.path, worktree.mirror, home, [])
    assert layout.cache_dir == cache.cache_dir
    assert layout.readable == (worktree.mirror,)
    assert layout.writable == (worktree.path, home)
    assert layout.locked == (worktree.path / ".git",)


# --- asked for, usable, required -----------------------------------------------------------------------


def test_off_means_no_probe_and_no_wrapper(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap at all: off must not care
    settings = WorkerSettings(WORKER_SANDBOX="none")
    assert sandbox_state(settings) == sandbox.SandboxState(requested=False, required=False)
    assert job_wrapper(settings, tmp_path, tmp_path, tmp_path, lambda *_: pytest.fail("nothing to log")) == []


def test_a_failing_bwrap_is_named_with_its_error(monkeypatch, tmp_path):
    fake_bwrap(tmp_path / "bin", "bwrap: setting up uid map: Permission denied", 1)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    state = sandbox_state(WorkerSettings(WORKER_SANDBOX="bwrap"))
    assert not state.active and state.requested
    assert (
        state.problem
        == f"{tmp_path}/bin/bwrap test run exited 1: bwrap: setting up uid map: Permission denied"
    )


def test_a_proc_bwrap_cannot_mount_gets_the_proc_hint(monkeypatch, tmp_path):
    fake_bwrap(tmp_path / "bin", "bwrap: Can't mount proc on /newroot/proc: Operation not permitted", 1)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    state = sandbox_state(WorkerSettings(WORKER_SANDBOX="bwrap"))
    assert (
        sandbox.fix_hint(state.problem) == sandbox.PROC_HINT
        and "ProtectKernelTunables=no" in sandbox.PROC_HINT
    )
    assert sandbox.fix_hint("bwrap is not on PATH") == FIX_HINT


def test_unusable_and_not_required_warns_at_start_and_runs_jobs_unsandboxed(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = WorkerSettings(WORKER_SANDBOX="bwrap")
    with caplog.at_level(logging.WARNING, logger="codex_farm.worker"):
        state = check_at_start(settings)
    assert not state.active
    assert "UNSANDBOXED" in caplog.text and "bwrap is not on PATH" in caplog.text and FIX_HINT in caplog.text
    logged: list[tuple[str, str]] = []
    assert (
        job_wrapper(settings, tmp_path, tmp_path, tmp_path / "home", lambda *line: logged.append(line)) == []
    )
    assert logged == [("status", "sandbox: bwrap unusable (bwrap is not on PATH); running unsandboxed")]


def test_unusable_and_required_refuses_to_start_and_to_run_jobs(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = WorkerSettings(WORKER_SANDBOX="bwrap", WORKER_SANDBOX_REQUIRED=True)
    with pytest.raises(SandboxUnavailable, match="refusing to start") as refused:
        check_at_start(settings)
    assert "apt-get install bubblewrap" in str(refused.value)
    with pytest.raises(SandboxUnavailable, match="required but unusable: bwrap is not on PATH"):
        job_wrapper(settings, tmp_path, tmp_path, tmp_path / "home", lambda *_: None)


def test_a_worker_that_requires_a_missing_bwrap_exits_with_the_reason(tmp_path):
    env = {
        **os.environ,
        "PATH": str(tmp_path),
        "WORKER_SANDBOX": "bwrap",
        "WORKER_SANDBOX_REQUIRED": "1",
        "WORKER_CACHE_DIR": str(tmp_path / "cache"),
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "codex_farm", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert (
        "WORKER_SANDBOX=bwrap but bubblewrap is unusable: bwrap is not on PATH; refusing to start"
        in done.stderr
    ), done.stderr
    assert "Traceback" not in done.stderr


def test_hide_paths_are_comma_separated_and_expand_the_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/worker")
    settings = WorkerSettings(WORKER_SANDBOX_HIDE="~/.ssh, /etc/codex-farm,,")
    assert settings.sandbox_hide == [Path("/home/worker/.ssh"), Path("/etc/codex-farm")]
    assert Path("/home/worker/.config") in WorkerSettings().sandbox_hide
    assert WorkerSettings(WORKER_SANDBOX_HIDE="").sandbox_hide == []


# --- real runs in the sandbox ------------------------------------------------------------------------


def run_in(argv: list[str], script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*argv, "/bin/bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@needs_bwrap
def test_in_the_sandbox_git_works_and_only_the_job_paths_are_writable(job, tmp_path):
    cache, worktree, home = job
    other = cache.cache_dir / "worktrees" / "someone-else"
    other.mkdir()
    (other / "their.txt").write_text("theirs")
    secret_dir, secret_file = tmp_path / "secret-dir", tmp_path / "secret.env"
    secret_dir.mkdir()
    (secret_dir / "key").write_text("k")
    secret_file.write_text("TOKEN=x")
    argv = bwrap_argv(
        shutil.which("bwrap"),
        job_layout(cache.cache_dir, worktree.path, worktree.mirror, home, [secret_dir, secret_file]),
    )
    script = f"""
        echo changed >> app.py && echo new > new.py && echo ok > {home}/tmp/scratch
        git status --porcelain; git diff --stat | tail -1
        echo x > {tmp_path}/outside.txt || echo "outside: refused"
        echo x > {cache.cache_dir}/planted.txt || echo "cache: refused"
        ls {other} || echo "other job: hidden"
        ls {secret_dir} | wc -l; cat {secret_file} | wc -c
        git add new.py || echo "git add: refused"
        cat /proc/{os.getpid()}/environ || echo "worker environ: hidden"
    """
    done = run_in(argv, script, worktree.path)
    out = done.stdout.splitlines()
    assert out[:3] == [" M app.py", "?? new.py", " 1 file changed, 1 insertion(+)"], done
    assert out[3:] == [
        "outside: refused",
        "cache: refused",
        "other job: hidden",
        "0",
        "0",
        "git add: refused",
        "worker environ: hidden",
    ], done
    assert "Read-only file system" in done.stderr
    assert (worktree.path / "new.py").read_text() == "new\n" and (home / "tmp" / "scratch").exists()
    assert not (tmp_path / "outside.txt").exists() and not (cache.cache_dir / "planted.txt").exists()


@needs_bwrap
def test_in_the_sandbox_the_worktree_git_plumbing_cannot_be_redirected(job, tmp_path):
    cache, worktree, home = job
    admin = worktree.mirror / "worktrees" / "job0sandbox1"
    argv = bwrap_argv(
        shutil.which("bwrap"), job_layout(cache.cache_dir, worktree.path, worktree.mirror, home, [])
    )
    script = f"""
        git init -q --bare {home}/fg && echo "gitdir: {home}/fg" > .git || echo ".git: refused"
        rm -f .git || echo ".git rm: refused"
        echo "{home}/fg" > {admin}/gitdir || echo "gitdir: refused"
        echo "{home}/fg" > {admin}/commondir || echo "commondir: refused"
        git config --file {worktree.mirror}/config core.fsmonitor {home}/h.sh || echo "mirror config: refused"
        ls {cache.cache_dir}/owned 2>/dev/null | wc -l
    """
    done = run_in(argv, script, worktree.path)
    assert done.stdout.splitlines() == [
        ".git: refused",
        ".git rm: refused",
        "gitdir: refused",
        "commondir: refused",
        "mirror config: refused",
        "0",
    ], done
    assert worktree.seal is not None and tampering(worktree) is None


@needs_bwrap
def test_a_root_worker_cannot_remount_its_way_out(job, tmp_path):
    cache, worktree, home = job
    argv = bwrap_argv(
        shutil.which("bwrap"), job_layout(cache.cache_dir, worktree.path, worktree.mirror, home, [])
    )
    done = run_in(argv, f"mount -o remount,rw / 2>/dev/null; echo x > {tmp_path}/escaped.txt", worktree.path)
    assert done.returncode != 0 and not (tmp_path / "escaped.txt").exists(), done


REPORTER = """\
import json, os, sys
raw = open("/proc/self/environ", "rb").read().split(b"\\0")
environ = dict(item.decode().split("=", 1) for item in raw if item)
pid1 = open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode()
print(json.dumps({"pid": os.getpid(), "pid1": pid1, "env": environ}))
"""


@needs_bwrap
def test_the_launcher_runs_the_cli_inside_the_sandbox_and_its_pidfile_holds_bwrap(tmp_path):
    fake_cli = tmp_path / "fake-claude"
    fake_cli.write_text(f"#!{sys.executable} -I\n{REPORTER}")
    fake_cli.chmod(0o755)
    wrapper = bwrap_argv(shutil.which("bwrap"), SandboxLayout(writable=(tmp_path / "home",)))
    env = agent_env(
        "4c1d2e3f5a6b",
        tmp_path / "home",
        "http://127.0.0.1:8788",
        "signing-key-0123",
        900,
        fake_cli,
        tmp_path / "agent.pid",
        wrapper,
    )
    assert env["IS_SANDBOX"] == "1" and json.loads(env[agent_launcher.SANDBOX]) == wrapper
    process = subprocess.run(
        [str(launcher_script(tmp_path / "bin"))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout)
    assert report["pid1"].endswith("bwrap"), report  # a fresh PID namespace: pid 1 is bwrap's init
    assert int((tmp_path / "agent.pid").read_text()) != report["pid"]  # the pidfile holds bwrap, outside
    kept = env[agent_launcher.ENV_KEEP].split(",")
    assert report["env"] == {**{name: env[name] for name in kept}, "PWD": str(tmp_path)}  # bwrap sets PWD
    assert agent_launcher.SANDBOX not in report["env"] and agent_launcher.PIDFILE not in report["env"]


# --- every worker cache of the host ------------------------------------------------------------------


@needs_bwrap
def test_a_sandboxed_job_sees_no_other_registered_cache_live_or_dead(job, tmp_path):
    cache, worktree, home = job
    registry = tmp_path / "registry"
    # Two more workers of this host on caches of their own; what their jobs left is the same kind of secret.
    others = [tmp_path / "worker-b" / "cache", tmp_path / "worker-c-stopped" / "cache"]
    for other in others:
        for leftover in ("worktrees/their-job/app.py", "homes/their-job/.claude/projects/session.jsonl"):
            (other / leftover).parent.mkdir(parents=True)
            (other / leftover).write_text("theirs\n")
    for registered in (cache.cache_dir, *others):
        register_cache(registry, registered)
    settings = WorkerSettings(
        WORKER_SANDBOX="bwrap", WORKER_CACHE_DIR=str(cache.cache_dir), WORKER_CACHE_REGISTRY=str(registry)
    )
    argv = job_wrapper(settings, worktree.path, worktree.mirror, home, lambda *_: None)
    script = "; ".join(
        f"cat {other}/worktrees/their-job/app.py {other}/homes/their-job/.claude/projects/session.jsonl; "
        f"ls -A {other} | wc -l"
        for other in others
    )
    done = run_in(argv, f"{script}; cat app.py", worktree.path)
    assert done.stdout.splitlines() == ["0", "0", "print('hi')"], done
    assert "theirs" not in done.stdout


def test_the_sandbox_hides_registered_caches_outermost_first_and_never_its_own(tmp_path):
    registry, own = tmp_path / "registry", tmp_path / "own"
    outer, inner, inside_own = tmp_path / "outer", tmp_path / "outer" / "nested", own / "sub"
    for folder in (own, outer, inner, inside_own):
        folder.mkdir(parents=True)
        register_cache(registry, folder)
    assert caches_to_hide(registry, own, []) == [outer]
    assert caches_to_hide(registry, own, [outer]) == []
