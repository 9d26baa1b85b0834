"""Making sure no process of a job survives it.

Every process a job starts carries `FARM_JOB_ID=<job id>` in its environment and runs in
its own process group. Killing the group ends most of the tree; scanning `/proc` for the
marker catches daemons that called setsid() to leave the group.
"""

import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

JOB_ID_VARIABLE = "FARM_JOB_ID"
_PROC = "/proc"
_GROUP_POLL_S = 0.02
_ROUND_PAUSE_S = 0.05


@dataclass(frozen=True)
class ProcessState:
    """The parts of `/proc/<pid>/stat` we need: run state and process group."""

    pid: int
    state: str
    pgid: int

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


def kill_job_processes(job_id: str, known_groups: Iterable[int] = (), rounds: int = 5) -> list[int]:
    """Kill the job's known groups, then SIGKILL every process still carrying its marker.

    Repeats the scan up to `rounds` times because a dying process may fork; returns the PIDs killed.
    """
    for pgid in known_groups:
        kill_process_group(pgid)
    killed: list[int] = []
    for _ in range(rounds):
        survivors = find_job_processes(job_id)
        if not survivors:
            break
        for pid in survivors:
            _kill_process_and_its_group(pid)
            if pid not in killed:
                killed.append(pid)
        time.sleep(_ROUND_PAUSE_S)
    return killed


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
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as environ_file:
            environ = environ_file.read()
    except OSError:
        # Vanished mid-scan, or belongs to another user: either way not ours to kill.
        return False
    return marker in environ.split(b"\0")


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
    return ProcessState(pid=pid, state=fields_after_name[0], pgid=int(fields_after_name[2]))
