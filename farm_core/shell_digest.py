"""The digest of a shell job's command: how it ended, why it failed, its summary line and its decisive lines.

Pure functions over a command's outcome (a worker's CheckOutcome, already redacted and capped); the worker
stores the digest in the job's result, and the `shell` tool returns it instead of the output."""

import re
from typing import Literal, Protocol

from pydantic import BaseModel, Field

ShellStatus = Literal["passed", "failed", "timed_out", "cancelled"]
FailureKind = Literal[
    "none", "test_failure", "compile_error", "lint", "command_not_found", "timeout", "killed", "other"
]

DECISIVE_MAX_LINES = 20
LINES_MAX_BYTES = 4096
LINE_MAX_CHARS = 300
# bash reports a command it could not find (127) or could not execute (126) with these codes.
NOT_FOUND_EXIT_CODES = (126, 127)
# Above this, the exit code is 128 + the signal that killed the command (137: SIGKILL, e.g. the OOM killer).
SIGNAL_EXIT_BASE = 128

_STATUS_OF_CHECK: dict[str, ShellStatus] = {
    "passed": "passed",
    "failed": "failed",
    "timed out": "timed_out",
    "cancelled": "cancelled",
}

# Evidence per failure kind, strongest first; the first kind with a matching line wins.
_TEST_FAILED = re.compile(
    r"^=*\s*(?:\d+ \w+, )*\d+ failed\b"  # pytest summary
    r"|^FAILED \S+::"  # pytest short summary
    r"|^FAILED \((?:failures|errors)="  # unittest
    r"|^(?:FAIL|ERROR): test"  # unittest headers
    r"|^--- FAIL: "  # go test
    r"|^FAIL\s+\S+\s+[\d.]+s$"  # go test, per package
    r"|^test result: FAILED"  # cargo test
    r"|^Tests:\s+\d+ failed"  # jest
    r"|^\s*\d+ failing$"  # mocha
)
_COMPILE_ERROR = re.compile(
    r"^\S+:\d+:\d+: (?:fatal )?error: (?!.*\[[a-z][\w-]*\]$)"  # gcc, clang (a trailing [code] is mypy's)
    r"|\berror TS\d+:"  # tsc
    r"|^error(?:\[E\d+\])?: "  # rustc, cargo build
    r"|undefined reference to |ld returned \d+ exit status"  # the linker
    r"|^\S+\.java:\d+: error:"  # javac
    r"|\[(?:build|setup) failed\]"  # go test that did not build
    # Python, also inside pytest's collection errors
    r"|^(?:E\s+)?\s*(?:SyntaxError|IndentationError|TabError): "
)
_LINT = re.compile(
    r"^\S+:\d+:\d+: [A-Z]{1,3}\d{2,4}\b"  # ruff (concise), flake8, pylint
    r"|^[A-Z]{1,3}\d{3,4} (?:\[\*\] )?\S.*$"  # ruff's full format: the code first, the location below
    r"|^Found \d+ errors?\.$"  # ruff
    r"|^\s*\d+:\d+\s+error\s"  # eslint
    r"|^\s*✖ \d+ problems?"  # eslint
    r"|^\S+:\d+(?::\d+)?: error: .*\[[a-z][\w-]*\]$"  # mypy
    r"|^Found \d+ errors? in \d+ files? \(checked"  # mypy
    r"|^Your code has been rated"  # pylint
    r"|^would reformat |files? would be reformatted"  # black, ruff format --check
)
_NOT_FOUND = re.compile(r": command not found$|executable file not found in \$PATH")
_TEST_BROKEN = re.compile(
    r"^=*\s*(?:\d+ \w+, )*\d+ errors? in [\d.]+s|^ERROR collecting |^Interrupted: \d+ errors?"
)
_GO_BUILD = re.compile(r"^\S+\.go:\d+:\d+: ")
_EVIDENCE: list[tuple[FailureKind, re.Pattern]] = [
    ("test_failure", _TEST_FAILED),
    ("compile_error", _COMPILE_ERROR),
    ("lint", _LINT),
    ("command_not_found", _NOT_FOUND),
    ("test_failure", _TEST_BROKEN),  # pytest that could not collect, unless a syntax error said why
    ("compile_error", _GO_BUILD),
]

# Summary lines of common tools, e.g. pytest's `1 failed, 2 passed in 0.02s`; the last one in the output wins.
_SUMMARIES = [
    re.compile(
        r"^=*\s*(\d+ (?:failed|passed|errors?|skipped|xfailed|xpassed|deselected|warnings?)\b.* in "
        r"[\d.]+s\b.*?)\s*=*$"
    ),
    re.compile(r"^=*\s*(no tests ran in [\d.]+s.*?)\s*=*$"),  # pytest
    re.compile(r"^(test result: (?:ok|FAILED)\..*)$"),  # cargo test
    re.compile(r"^(Tests:\s+.*\d+ total)$"),  # jest
    re.compile(r"^\s*(\d+ (?:passing|failing|pending)\b.*)$"),  # mocha
    re.compile(r"^((?:ok|FAIL)\s+\S+\s+(?:[\d.]+s|\(cached\)|\[\w+ failed\]).*)$"),  # go test
    re.compile(r"^(Found \d+ errors?\b.*)$"),  # tsc, ruff, mypy
    re.compile(r"^(Success: no issues found.*|All checks passed!)$"),  # mypy, ruff
    re.compile(r"^\s*(✖ \d+ problems? .*)$"),  # eslint
    re.compile(r"^(\d+ (?:warnings? and \d+ )?errors? generated\.)$"),  # clang
    re.compile(r"^(Your code has been rated at .*)$"),  # pylint
    re.compile(r"^(error: could not compile .*)$"),  # cargo build
    re.compile(r"^(.*: command not found)$"),  # bash
]
_UNITTEST_RAN = re.compile(r"^Ran \d+ tests? in [\d.]+s$")
_UNITTEST_VERDICT = re.compile(r"^(?:OK|FAILED)\b")


class ShellDigest(BaseModel):
    """What a shell job's command did, in a few hundred bytes: stored in its result, returned by `shell`."""

    status: ShellStatus = Field(
        description="passed (exit 0), failed (non-zero exit), timed_out or cancelled."
    )
    exit_code: int | None = Field(
        description="The command's exit code; null when it was killed (timeout, cancel)."
    )
    failure_kind: FailureKind = Field(
        description="Why it failed, read from the exit code and the output; none when it passed."
    )
    summary_line: str | None = Field(
        None, description="The tool's own summary, e.g. pytest's '1 failed, 3 passed in 0.2s'."
    )
    decisive_lines: list[str] = Field(
        default_factory=list, description="Failure-looking lines and the last lines, bounded."
    )
    output_bytes: int = Field(0, description="Bytes the command wrote (stdout and stderr), before any cap.")
    elapsed_ms: int = Field(0, description="How long the command ran.")


class CommandOutcome(Protocol):
    """What the digest reads of how a command ended (the worker's `tasks.checks.CheckOutcome`)."""

    status: str
    exit_code: int | None
    duration_ms: int
    output: str
    output_bytes: int

    def decisive_lines(self, max_lines: int = 20) -> list[str]: ...


def shell_digest(outcome: CommandOutcome) -> ShellDigest:
    """The digest of one command's outcome; its lines are the outcome's (redacted) lines, bounded."""
    status = _STATUS_OF_CHECK[outcome.status]
    lines = outcome.output.splitlines()
    return ShellDigest(
        status=status,
        exit_code=outcome.exit_code,
        failure_kind=failure_kind(status, outcome.exit_code, lines),
        summary_line=summary_line(lines),
        decisive_lines=head_and_tail(outcome.decisive_lines(DECISIVE_MAX_LINES), LINES_MAX_BYTES),
        output_bytes=outcome.output_bytes,
        elapsed_ms=outcome.duration_ms,
    )


def failure_kind(status: ShellStatus, exit_code: int | None, lines: list[str]) -> FailureKind:
    """A small stable classification of a failure, from the exit code first and then the output of common
    tools."""
    if status == "passed":
        return "none"
    if status == "timed_out":
        return "timeout"
    if status == "cancelled" or (exit_code is not None and exit_code > SIGNAL_EXIT_BASE):
        return "killed"
    if exit_code in NOT_FOUND_EXIT_CODES:
        return "command_not_found"
    for kind, evidence in _EVIDENCE:
        if any(evidence.search(line) for line in lines):
            return kind
    return "other"


def summary_line(lines: list[str]) -> str | None:
    """The last summary line a known tool printed (unittest's two lines joined), clipped; None when there
    is none."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].rstrip()
        if _UNITTEST_RAN.match(line):
            verdict = next((later.strip() for later in lines[index + 1 :] if later.strip()), "")
            return clip(f"{line}: {verdict}" if _UNITTEST_VERDICT.match(verdict) else line)
        for pattern in _SUMMARIES:
            found = pattern.match(line)
            if found:
                return clip(found.group(1).strip())
    return None


def clip(line: str, max_chars: int = LINE_MAX_CHARS) -> str:
    """The line cut to max_chars, marked with an ellipsis when cut."""
    line = line.rstrip()
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"


def head_and_tail(lines: list[str], max_bytes: int) -> list[str]:
    """Clipped lines within max_bytes: the first ones (usually the cause) and the last ones (the ending),
    with a marker for those left out between."""
    clipped = [clip(line) for line in lines]
    if _size(clipped) <= max_bytes:
        return clipped
    head: list[str] = []
    tail: list[str] = []
    budget = max_bytes - 40  # room for the marker
    low, high = 0, len(clipped) - 1
    while low <= high:
        take_head = _size(head) <= _size(tail)
        line = clipped[low] if take_head else clipped[high]
        if _size([line]) > budget:
            break
        budget -= _size([line])
        if take_head:
            head.append(line)
            low += 1
        else:
            tail.insert(0, line)
            high -= 1
    omitted = [f"… {high - low + 1} line(s) omitted …"] if low <= high else []
    return [*head, *omitted, *tail]


def last_lines(lines: list[str], max_lines: int, max_bytes: int) -> list[str]:
    """The last lines (clipped), at most max_lines and about max_bytes."""
    kept: list[str] = []
    budget = max_bytes
    for line in reversed(lines[-max_lines:] if max_lines > 0 else []):
        shown = clip(line)
        if _size([shown]) > budget:
            break
        budget -= _size([shown])
        kept.insert(0, shown)
    return kept


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)
