"""Running a job's check commands (tests, linters) with bounded, redacted output."""

import os
import re
import selectors
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from farm_core.process_tree import kill_process_group
from farm_core.redaction import Redactor

CheckStatus = Literal["passed", "failed", "timed out", "cancelled"]
LineCallback = Callable[[str], None]

DEFAULT_OUTPUT_CAP_BYTES = 65536
MAX_LINE_BYTES = 8192
_READ_BLOCK_BYTES = 65536
_POLL_S = 0.05
# How long we keep reading after the command exits while something else (a daemon it
# forked) still holds the output pipe open.
_DRAIN_AFTER_EXIT_S = 0.5
_FINAL_DRAIN_S = 0.2
# Room kept free for the omission marker so head + marker + tail stay within the cap.
_MARKER_RESERVE_BYTES = 64
_TAIL_LINES_IN_DIGEST = 5

_FAILURE_LINE = re.compile(
    r"FAIL|Error|error(?:\[\w+\])?:|Traceback|\bassert|panicked|✗|^E {3}"
    r"|\berror TS\d+:|^\s*\d+:\d+\s+error\s|✕|^npm ERR!|^npm error "  # tsc, eslint, jest, npm
    r"|^\S+:\d+:\d+: [A-Z]{1,3}\d{2,4}\b|^[A-Z]{1,3}\d{3,4} "  # ruff, flake8, pylint
    r"|command not found|executable file not found",
)


class CheckSpec(NamedTuple):
    """One check to run: a display name, a bash command and its time limit."""

    name: str
    command: str
    timeout_s: float


@dataclass(frozen=True)
class CheckOutcome:
    """How one check ended, with its capped, redacted output."""

    name: str
    status: CheckStatus
    exit_code: int | None
    duration_ms: int
    output: str
    pgid: int
    # Bytes the command wrote, before the cap (`output` keeps only head and tail).
    output_bytes: int = 0

    def verdict(self) -> str:
        """The compact form the user sees, e.g. `pytest: failed`."""
        return f"{self.name}: {self.status}"

    def decisive_lines(self, max_lines: int = 20) -> list[str]:
        """Failure-looking lines plus the last few lines, in output order, de-duplicated, at most
        `max_lines`."""
        lines = self.output.splitlines()
        tail_indexes = [i for i, line in enumerate(lines) if line.strip()][-_TAIL_LINES_IN_DIGEST:]
        tail_indexes = tail_indexes[-max_lines:] if max_lines > 0 else []
        failure_budget = max(max_lines - len(tail_indexes), 0)
        # The first failures are usually the cause; later ones are often consequences.
        failure_indexes = [
            i for i, line in enumerate(lines) if _FAILURE_LINE.search(line) and i not in tail_indexes
        ]
        chosen = sorted(set(failure_indexes[:failure_budget]) | set(tail_indexes))
        return _unique([lines[i] for i in chosen])


def run_check(
    name: str,
    command: str,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    redactor: Redactor,
    output_cap_bytes: int = DEFAULT_OUTPUT_CAP_BYTES,
    on_line: LineCallback | None = None,
    cancelled: threading.Event | None = None,
    sandbox: Sequence[str] = (),
) -> CheckOutcome:
    """Run `command` under bash in its own session, streaming redacted lines to `on_line`.

    `env` is the complete environment (including the job marker); daemons that escaped the
    process group are left for the caller's `kill_job_processes`. `sandbox`, when given, is the
    bwrap command line (tasks/sandbox.py) bash runs under.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        [*sandbox, "/bin/bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pgid = process.pid
    output = _CheckOutput(redactor, on_line, output_cap_bytes)
    with process:  # closes the pipe and reaps the leader on the way out
        try:
            ending = _supervise(process, output, started + timeout_s, cancelled)
        finally:
            # The leader is not reaped yet, so its PID (the group id) cannot have been reused.
            kill_process_group(pgid)
        _drain_pipe(process.stdout.fileno(), output)
        output.finish()
    exit_code = process.returncode if ending == "exited" else None
    return CheckOutcome(
        name=name,
        status=_status_of(ending, exit_code),
        exit_code=exit_code,
        duration_ms=int((time.monotonic() - started) * 1000),
        output=output.text(),
        pgid=pgid,
        output_bytes=output.total_bytes,
    )


def run_checks(
    specs: list[CheckSpec] | list[tuple[str, str, float]],
    cwd: Path,
    env: dict[str, str],
    redactor: Redactor,
    output_cap_bytes: int = DEFAULT_OUTPUT_CAP_BYTES,
    on_line: LineCallback | None = None,
    cancelled: threading.Event | None = None,
    stop_on_cancel: bool = True,
    sandbox: Sequence[str] = (),
) -> list[CheckOutcome]:
    """Run every check in order, whatever the earlier ones returned; none start after a cancel."""
    outcomes = []
    for name, command, timeout_s in specs:
        if stop_on_cancel and cancelled is not None and cancelled.is_set():
            break
        outcomes.append(
            run_check(
                name, command, cwd, env, timeout_s, redactor, output_cap_bytes, on_line, cancelled, sandbox
            )
        )
    return outcomes


_Ending = Literal["exited", "timed out", "cancelled"]


def _status_of(ending: _Ending, exit_code: int | None) -> CheckStatus:
    if ending != "exited":
        return ending
    return "passed" if exit_code == 0 else "failed"


def _supervise(
    process: subprocess.Popen,
    output: "_CheckOutput",
    deadline: float,
    cancelled: threading.Event | None,
) -> _Ending:
    """Pump output until the command exits, times out or is cancelled; leaves the killing to the caller."""
    pipe_fd = process.stdout.fileno()
    os.set_blocking(pipe_fd, False)
    drain_deadline = None
    with selectors.DefaultSelector() as selector:
        selector.register(pipe_fd, selectors.EVENT_READ)
        pipe_open = True
        while True:
            if pipe_open:
                pipe_open = _read_available(selector, pipe_fd, output, _POLL_S)
            else:
                time.sleep(_POLL_S)
            # Cancel first: whoever cancels may also kill the job's processes, and a check
            # killed that way must read as cancelled, not failed.
            if cancelled is not None and cancelled.is_set():
                return "cancelled"
            now = time.monotonic()
            if _has_exited(process.pid):
                if not pipe_open:
                    return "exited"
                drain_deadline = drain_deadline or now + _DRAIN_AFTER_EXIT_S
                if now >= drain_deadline:
                    return "exited"
                continue
            if now >= deadline:
                return "timed out"


def _read_available(
    selector: selectors.BaseSelector, pipe_fd: int, output: "_CheckOutput", wait_s: float
) -> bool:
    """Read one block if any arrives within `wait_s`; False once the pipe reached end of file."""
    if not selector.select(wait_s):
        return True
    try:
        block = os.read(pipe_fd, _READ_BLOCK_BYTES)
    except BlockingIOError:
        return True
    if not block:
        return False
    output.feed(block)
    return True


def _drain_pipe(pipe_fd: int, output: "_CheckOutput") -> None:
    """Take what is already buffered in the pipe after the kill, without waiting on writers that survived."""
    give_up_at = time.monotonic() + _FINAL_DRAIN_S
    with selectors.DefaultSelector() as selector:
        selector.register(pipe_fd, selectors.EVENT_READ)
        while time.monotonic() < give_up_at and selector.select(0):
            try:
                block = os.read(pipe_fd, _READ_BLOCK_BYTES)
            except BlockingIOError:
                return
            if not block:
                return
            output.feed(block)


def _has_exited(pid: int) -> bool:
    """Whether the child exited, without reaping it (WNOWAIT keeps its PID reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _unique(lines: list[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for line in lines:
        if line not in seen:
            seen.add(line)
            unique.append(line)
    return unique


class _LineSplitter:
    """Turns blocks of bytes into lines, cutting any line longer than `max_line_bytes`."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES):
        self._max_line_bytes = max_line_bytes
        self._partial = b""

    def feed(self, block: bytes) -> list[bytes]:
        """The complete lines now available; an overlong unfinished line is cut and emitted too."""
        *complete, self._partial = (self._partial + block).split(b"\n")
        lines = [piece for line in complete for piece in self._cut(line)]
        while len(self._partial) >= self._max_line_bytes:
            lines.append(self._partial[: self._max_line_bytes])
            self._partial = self._partial[self._max_line_bytes :]
        return lines

    def flush(self) -> list[bytes]:
        """The last line when the output did not end with a newline."""
        rest, self._partial = self._partial, b""
        return [rest] if rest else []

    def _cut(self, line: bytes) -> list[bytes]:
        if len(line) <= self._max_line_bytes:
            return [line]
        return [line[i : i + self._max_line_bytes] for i in range(0, len(line), self._max_line_bytes)]


class _HeadTailBuffer:
    """Keeps the first and the last lines of the output within a byte budget."""

    def __init__(self, cap_bytes: int):
        self._head_budget = cap_bytes // 2
        self._tail_budget = max(cap_bytes - self._head_budget - _MARKER_RESERVE_BYTES, 0)
        self._head: list[str] = []
        self._head_bytes = 0
        self._head_full = False
        self._tail: deque[tuple[str, int]] = deque()
        self._tail_bytes = 0
        self._omitted_bytes = 0

    def add(self, line: str) -> None:
        size = len(line.encode()) + 1
        if not self._head_full and self._head_bytes + size <= self._head_budget:
            self._head.append(line)
            self._head_bytes += size
            return
        # Once a line misses the head, later lines go to the tail so the order stays true.
        self._head_full = True
        if size > self._tail_budget:
            line, size = self._shorten(line)
        self._tail.append((line, size))
        self._tail_bytes += size
        while self._tail_bytes > self._tail_budget:
            _, dropped_size = self._tail.popleft()
            self._tail_bytes -= dropped_size
            self._omitted_bytes += dropped_size

    def text(self) -> str:
        marker = [f"… {self._omitted_bytes} bytes omitted …"] if self._omitted_bytes else []
        return "\n".join([*self._head, *marker, *(line for line, _ in self._tail)])

    def _shorten(self, line: str) -> tuple[str, int]:
        encoded = line.encode()
        kept = encoded[: max(self._tail_budget - 1, 0)].decode(errors="ignore")
        kept_size = len(kept.encode()) + 1
        self._omitted_bytes += len(encoded) + 1 - kept_size
        return kept, kept_size


class _CheckOutput:
    """Splits, redacts, streams and keeps (bounded) the output of one check."""

    def __init__(self, redactor: Callable[[str], str], on_line: LineCallback | None, cap_bytes: int):
        self._redact = redactor
        self._on_line = on_line
        self._splitter = _LineSplitter()
        self._buffer = _HeadTailBuffer(cap_bytes)
        self.total_bytes = 0

    def feed(self, block: bytes) -> None:
        self.total_bytes += len(block)
        for raw_line in self._splitter.feed(block):
            self._emit(raw_line)

    def finish(self) -> None:
        for raw_line in self._splitter.flush():
            self._emit(raw_line)

    def text(self) -> str:
        return self._buffer.text()

    def _emit(self, raw_line: bytes) -> None:
        # A secret cut in two by the 8 KB line limit could slip past; checks rarely print such lines.
        line = self._redact(raw_line.decode(errors="replace"))
        if self._on_line is not None:
            self._on_line(line)
        self._buffer.add(line)
