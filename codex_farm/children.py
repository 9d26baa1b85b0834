"""Child processes of a local farm: each in its own session, logging to a file, stopped by its PID."""

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from farm_core.errors import FarmError

_POLL_S = 0.1


class ChildFailed(FarmError):
    """A child exited or never became ready; the message ends with its last log lines."""

    code = "child_failed"
    hint = "its log (named in the message) says why; `codex-farm doctor` checks the settings it needs"

    def __init__(self, child: "Child", reason: str):
        super().__init__(f"{child.name} {reason}; last lines of {child.log_path}:\n{child.tail()}")
        self.child = child


@dataclass
class Child:
    """One started process with its log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 20) -> str:
        """The last lines of the child's log, indented for printing."""
        return "\n".join("    " + line for line in self.log().splitlines()[-lines:])

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the child and wait; after grace_s, SIGKILL its own process group."""
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            # Its session is its own (start_new_session), so this group holds only its processes.
            _kill_group(self.pid)
            self.process.wait()


def spawn(name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> Child:
    """Start argv with env, stdout and stderr to log_path."""
    with open(log_path, "ab") as log:
        # Its own session keeps a terminal's Ctrl-C away from it: we stop the children in order.
        process = subprocess.Popen(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(name, process, log_path)


def wait_ready(child: Child, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ready() until it holds; ChildFailed if the child exits first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not child.alive():
            raise ChildFailed(child, f"exited with code {child.process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise ChildFailed(child, f"was not {what} after {timeout_s:.0f} s")
        time.sleep(_POLL_S)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
