"""Making sure no process of a job survives it.

Every process a job starts carries `FARM_JOB_ID=<job id>` in its environment and runs in
its own process group. Killing the group ends most of the tree; scanning `/proc` for the
marker catches daemons that called setsid() to leave the group. A daemon can also drop the
marker (`env -u FARM_JOB_ID`), so a worker's pool process, which runs one job at a time, is a
child subreaper: every orphan of its job is reparented to it instead of to init, and its
clean-up kills every descendant it has, marker or not.
"""

import ctypes
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

JOB_ID_VARIABLE = "FARM_JOB_ID"
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
_PROC = "/proc"
_GROUP_POLL_S = 0.02
_ROUND_PAUSE_S = 0.05


@dataclass(frozen=True)
class ProcessState:
    """The parts of `/proc/<pid>/stat` we need: run state, process group and parent."""

    pid: int
    state: str
    pgid: int
    ppid: int

    @property
    def is_zombie(self) -> bool:
        # A zombie is already dead; only its parent's wait() removes it.
        return self.state in ("Z", "X")


def job_env_marker(job_id: str) -> dict[str, str]:
    """The environment entry that tags every process of the job."""
    return {JOB_ID_VARIABLE: job_id}


def kill_process_group(pgid: int, grace_s: float = 0.0) -> None:
    """SIGTERM the group, wait up to `grace_s` for it to vanish, then SIGKILL it."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while grace_s > 0 and time.monotonic() < deadline:
        if not _group_has_live_members(pgid):
            break
        time.sleep(_GROUP_POLL_S)
    _signal_group(pgid, signal.SIGKILL)


def find_job_processes(job_id: str) -> list[int]:
    """PIDs of live processes (not zombies, not us) whose environment carries the job's marker."""
    marker = f"{JOB_ID_VARIABLE}={job_id}".encode()
    own_pid = os.getpid()
    found = []
    for pid in _all_pids():
        if pid == own_pid or not _environ_has(pid, marker):
            continue
        state = _read_state(pid)
        if state is not None and not state.is_zombie:
            found.append(pid)
    return found


def become_subreaper() -> None:
    """Make this process the parent of every orphan below it (PR_SET_CHILD_SUBREAPER); not inherited by
    children."""
    prctl = _prctl()
    if prctl is None or prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot become a child subreaper (Linux 3.4 or newer needed)")


def is_child_subreaper() -> bool:
    """Whether this process adopts the orphans below it: a pool process, whose descendants are all its
    job's."""
    prctl, flag = _prctl(), ctypes.c_int(0)
    return (
        prctl is not None
        and prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0
        and flag.value != 0
    )


def find_descendants() -> list[int]:
    """PIDs of the live processes below this one (children, their children, ...), zombies left out."""
    states = [state for state in map(_read_state, _all_pids()) if state is not None]
    below, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {state.pid for state in states if state.ppid in frontier} - below
        below |= frontier
    return [state.pid for state in states if state.pid in below and not state.is_zombie]


def reap_orphans() -> list[int]:
    """Collect every exited child of this process (the orphans it adopted); returns their PIDs.

    Only safe once nothing of this process still waits for a child of its own: between a pool process's
    jobs."""
    reaped = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append(pid)


def kill_job_processes(job_id: str, known_groups: Iterable[int] = (), rounds: int = 5) -> list[int]:
    """Kill the job's known groups, then SIGKILL every process still carrying its marker, and in a
    subreaper (a pool process, one job at a time) every descendant too.

    Repeats the scan up to `rounds` times because a dying process may fork; returns the PIDs killed.
    """
    for pgid in known_groups:
        kill_process_group(pgid)
    # Elsewhere (the worker's main process, the frontend) descendants are not the job's: pool processes,
    # servers.
    adopts_orphans = is_child_subreaper()
    killed: list[int] = []
    for _ in range(rounds):
        survivors = find_job_processes(job_id)
        if adopts_orphans:
            survivors = list(dict.fromkeys([*survivors, *_descendants_of_job(job_id)]))
        if not survivors:
            break
        for pid in survivors:
            _kill_process_and_its_group(pid)
            if pid not in killed:
                killed.append(pid)
        time.sleep(_ROUND_PAUSE_S)
    return killed


def _descendants_of_job(job_id: str) -> list[int]:
    """Our descendants, but for any that carries another job's marker (a prefork pool process, one job at a
    time, has none)."""
    ours = f"{JOB_ID_VARIABLE}={job_id}".encode()
    return [pid for pid in find_descendants() if _marker_of(pid) in (None, ours)]


def _marker_of(pid: int) -> bytes | None:
    prefix = f"{JOB_ID_VARIABLE}=".encode()
    return next((entry for entry in _environ_entries(pid) if entry.startswith(prefix)), None)


def _kill_process_and_its_group(pid: int) -> None:
    """SIGKILL one process and, unless it is ours, the group it leads or belongs to."""
    try:
        pgid = os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        pgid = None
    # Never signal our own group: a marked process started without a session of its own
    # would otherwise take the worker down with it.
    if pgid is not None and pgid > 1 and pgid != os.getpgrp():
        _signal_group(pgid, signal.SIGKILL)
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(pgid: int, signum: int) -> bool:
    """Send a signal to a process group; False when the group is gone or not ours."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _group_has_live_members(pgid: int) -> bool:
    # killpg(pgid, 0) still succeeds while unreaped zombies remain, so look at /proc instead.
    for pid in _all_pids():
        state = _read_state(pid)
        if state is not None and state.pgid == pgid and not state.is_zombie:
            return True
    return False


def _all_pids() -> Iterator[int]:
    try:
        names = os.listdir(_PROC)
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def _environ_has(pid: int, marker: bytes) -> bool:
    """Whether the process's initial environment holds exactly `marker` as one entry."""
    return marker in _environ_entries(pid)


def _environ_entries(pid: int) -> list[bytes]:
    """The process's initial environment, one `NAME=value` entry each; empty when unreadable."""
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as environ_file:
            return environ_file.read().split(b"\0")
    except OSError:
        # Vanished mid-scan, or belongs to another user: either way not ours to kill.
        return []


def _read_state(pid: int) -> ProcessState | None:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat_file:
            stat = stat_file.read().decode(errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    fields_after_name = stat[stat.rfind(")") + 2 :].split()
    if len(fields_after_name) < 3:
        return None
    return ProcessState(
        pid=pid, state=fields_after_name[0], pgid=int(fields_after_name[2]), ppid=int(fields_after_name[1])
    )


def _prctl():
    """libc's prctl; None off Linux (a frontend on macOS also calls kill_job_processes, through the
    reconciler)."""
    return getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
