"""The processes a command under test started, found through /proc and stopped by PID."""

import os
import signal
from pathlib import Path

# (pid, start time): a PID alone could be reused by an unrelated process before teardown.
ProcessId = tuple[int, int]


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself contain spaces.
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> set[ProcessId]:
    """Every live process below root, with its start time."""
    parents: dict[int, int] = {}
    started: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
            started[int(entry)] = int(fields[19])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - {p for p, _ in found}
        found |= {(pid, started[pid]) for pid in frontier}
    return found


def alive(process: ProcessId) -> bool:
    """True while that very process exists and is not a zombie."""
    fields = _stat(process[0])
    return fields is not None and int(fields[19]) == process[1] and fields[0] not in ("Z", "X")


def kill_all(processes: set[ProcessId]) -> None:
    """SIGKILL each process that is still the one we saw."""
    for process in processes:
        if alive(process):
            try:
                os.kill(process[0], signal.SIGKILL)
            except ProcessLookupError:
                pass
