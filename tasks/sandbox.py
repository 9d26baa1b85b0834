"""The bubblewrap sandbox a job's agent (and its check commands) run in, with `WORKER_SANDBOX=bwrap`.

Inside: the whole filesystem read-only, a fresh /proc in a private PID namespace (so no worker's
environment is readable), the worker cache hidden except this job's worktree, git dirs and home,
every other worker cache of the host hidden (tasks/cache_registry.py), the configured secret paths
hidden, no capabilities. The network is kept: the agent must reach
the adapter. The worker builds the command line here; the launcher (and the check runner) put it
in front of the command they start."""

import logging
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from farm_core.errors import FarmError
from tasks.cache_registry import caches_to_hide
from tasks.settings import WorkerSettings

BWRAP_PROGRAM = "bwrap"
PROBE_TIMEOUT_S = 10
FIX_HINT = (
    "install bubblewrap (Debian: apt-get install bubblewrap) and allow unprivileged user namespaces "
    "(sysctl kernel.unprivileged_userns_clone=1 where it exists, user.max_user_namespaces > 0)"
)
# The kernel refuses a fresh /proc in a user namespace while parts of the outer /proc are covered.
PROC_HINT = (
    "uncover /proc for the worker: systemd ProtectKernelTunables=no and ProtectKernelLogs=no "
    "(deploy/systemd/codex-farm-worker@.service.d/sandbox.conf); in a container, unmasked /proc "
    "(docker --security-opt systempaths=unconfined, Kubernetes procMount: Unmasked)"
)
# Before any mount: its own session (no terminal to inject into), its own PID namespace with a
# fresh /proc, no capabilities (a root worker could otherwise remount / read-write), and it dies
# with the process that started it, so killing that one PID ends the whole sandbox.
BASE_OPTIONS = ("--die-with-parent", "--new-session", "--unshare-pid", "--cap-drop", "ALL")
log = logging.getLogger("codex_farm.worker")


class SandboxUnavailable(FarmError):
    """`WORKER_SANDBOX=bwrap` with `WORKER_SANDBOX_REQUIRED`, and bwrap cannot run here."""

    code = "sandbox_unavailable"
    hint = "install bubblewrap and allow unprivileged user namespaces, or unset WORKER_SANDBOX_REQUIRED"


@dataclass(frozen=True)
class SandboxLayout:
    """What one sandbox shows: absolute paths, applied in this order after `/` goes in read-only."""

    hidden_dirs: tuple[Path, ...] = ()  # each an empty read-only tmpfs
    hidden_files: tuple[Path, ...] = ()  # each /dev/null, read-only
    cache_dir: Path | None = None  # an empty read-only tmpfs, except the paths below
    readable: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    locked: tuple[Path, ...] = ()  # read-only again inside the writable paths


@dataclass(frozen=True)
class SandboxState:
    """Whether this worker was asked for bwrap and, if so, whether it runs here."""

    requested: bool
    required: bool
    bwrap: str | None = None  # the usable bwrap; None when off or unusable
    problem: str | None = None  # why bwrap cannot be used

    @property
    def active(self) -> bool:
        return self.bwrap is not None


def bwrap_argv(bwrap: str, layout: SandboxLayout) -> list[str]:
    """The bwrap command line (ending in `--`) that runs the command appended to it inside `layout`."""
    argv = [bwrap, *BASE_OPTIONS, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for directory in layout.hidden_dirs:
        argv += ["--tmpfs", str(directory)]
    for file in layout.hidden_files:
        argv += ["--ro-bind", "/dev/null", str(file)]
    # The job's own paths come last, so a hidden parent (the cache dir, a hidden folder) never covers them.
    if layout.cache_dir is not None:
        argv += ["--tmpfs", str(layout.cache_dir)]
    for path in layout.readable:
        argv += ["--ro-bind", str(path), str(path)]
    for path in layout.writable:
        argv += ["--bind", str(path), str(path)]
    for path in layout.locked:
        argv += ["--ro-bind", str(path), str(path)]
    # Read-only last, once bwrap has made the mount points in them: writes there fail instead of
    # vanishing into a tmpfs. A remount touches only that mount, not the job's binds inside it.
    for directory in (*layout.hidden_dirs, *([layout.cache_dir] if layout.cache_dir is not None else [])):
        argv += ["--remount-ro", str(directory)]
    return [*argv, "--"]


def job_layout(
    cache_dir: Path, worktree: Path, mirror: Path, home: Path, hide: Iterable[Path]
) -> SandboxLayout:
    """The layout of one job: its worktree and home writable; its mirror (with the worktree's git admin
    dir in it) readable; the worktree's `.git` file read-only, so git in the sandbox cannot be pointed
    elsewhere."""
    hidden_dirs, hidden_files = split_hidden(hide)
    dot_git = worktree.resolve() / ".git"
    return SandboxLayout(
        hidden_dirs=hidden_dirs,
        hidden_files=hidden_files,
        cache_dir=cache_dir.resolve(),
        readable=(mirror.resolve(),),
        writable=(worktree.resolve(), home.resolve()),
        locked=(dot_git,) if dot_git.is_file() and not dot_git.is_symlink() else (),
    )


def split_hidden(paths: Iterable[Path]) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Existing paths to hide, as (directories, other files); missing ones have nothing to hide."""
    directories, files = [], []
    for path in paths:
        resolved = Path(path).expanduser().resolve()
        if resolved.is_dir():
            directories.append(resolved)
        elif resolved.exists():
            files.append(resolved)
    return tuple(dict.fromkeys(directories)), tuple(dict.fromkeys(files))


def probe(bwrap: str | None) -> str | None:
    """Run `true` in an empty sandbox; None when that works, else why not (one line)."""
    if bwrap is None:
        return f"{BWRAP_PROGRAM} is not on PATH"
    try:
        done = subprocess.run(
            [*bwrap_argv(bwrap, SandboxLayout()), "true"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"{bwrap} did not finish a test run within {PROBE_TIMEOUT_S} s"
    except OSError as exc:
        return f"{bwrap} cannot run: {exc.strerror or type(exc).__name__}"
    if done.returncode != 0:
        first = done.stderr.strip().splitlines()[:1]
        return f"{bwrap} test run exited {done.returncode}" + (f": {first[0][:200]}" if first else "")
    return None


def fix_hint(problem: str | None) -> str:
    """What to do about `problem` (from `probe`)."""
    return PROC_HINT if problem and "mount proc" in problem else FIX_HINT


def sandbox_state(settings: WorkerSettings) -> SandboxState:
    """Asked for bwrap? Then find it on PATH and probe it."""
    if settings.sandbox != "bwrap":
        return SandboxState(requested=False, required=settings.sandbox_required)
    bwrap = shutil.which(BWRAP_PROGRAM)
    problem = probe(bwrap)
    return SandboxState(True, settings.sandbox_required, bwrap=None if problem else bwrap, problem=problem)


def check_at_start(settings: WorkerSettings) -> SandboxState:
    """At worker start: a loud warning when bwrap is asked for but unusable; SandboxUnavailable when it is
    required."""
    state = sandbox_state(settings)
    if state.requested and not state.active:
        message = f"WORKER_SANDBOX=bwrap but bubblewrap is unusable: {state.problem}"
        if state.required:
            raise SandboxUnavailable(
                f"{message}; refusing to start (WORKER_SANDBOX_REQUIRED) — {fix_hint(state.problem)}"
            )
        hint = fix_hint(state.problem)
        log.warning(
            "!!! %s. Agents and checks run UNSANDBOXED. Fix: %s; or set WORKER_SANDBOX_REQUIRED=1 to refuse.",
            message,
            hint,
        )
    elif state.active:
        log.info("agents and checks run in a bubblewrap sandbox (%s)", state.bwrap)
    return state


def job_wrapper(
    settings: WorkerSettings, worktree: Path, mirror: Path, home: Path, job_log: Callable[[str, str], None]
) -> list[str]:
    """The command-line prefix that sandboxes this job's agent and checks; empty when it runs unsandboxed.

    Probes bwrap again (a few ms), so a box that lost it since start is noticed; logs the choice to the
    job."""
    state = sandbox_state(settings)
    if not state.requested:
        return []
    if not state.active:
        if state.required:
            raise SandboxUnavailable(
                f"WORKER_SANDBOX=bwrap is required but unusable: {state.problem} — {fix_hint(state.problem)}"
            )
        job_log("status", f"sandbox: bwrap unusable ({state.problem}); running unsandboxed")
        return []
    home.mkdir(parents=True, exist_ok=True)
    # Every other worker cache of the host too (live or dead workers'), not only this worker's own.
    hide = [
        *caches_to_hide(settings.cache_registry, settings.cache_dir, settings.sandbox_hide),
        *settings.sandbox_hide,
    ]
    layout = job_layout(settings.cache_dir, worktree, mirror, home, hide)
    job_log("status", "sandbox: bwrap (read-only system, private /proc; writable: worktree and job home)")
    return bwrap_argv(state.bwrap, layout)
