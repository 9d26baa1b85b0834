"""A running job's progress, read from its log stream: turns, tool calls, checks and one-line messages.

Shared by the MCP `wait` tool (progress notifications) and `codex-farm wait` (the live line).
"""

import json
import re
from dataclasses import dataclass, field

from farm_core.store import LogEntry

# Log kinds worth a progress message; the others (assistant text, tool results, stderr) only move counters.
PROGRESS_KINDS = frozenset({"tool_call", "check", "status", "result", "error"})
# The argument that says best what a tool call does, in order of preference.
TARGET_KEYS = ("file_path", "notebook_path", "path", "command", "pattern", "url", "description", "prompt")
MESSAGE_MAX = 120
LINE_MAX = 200
_CHECK_START = re.compile(r"^check (.+): running$")
_RESULT_TURNS = re.compile(r" after (\d+) turns")


@dataclass
class JobProgress:
    """Counters over the log entries fed so far, and the message of the latest progress-worthy one."""

    job_id: str
    turns: int = 0
    tool_calls: int = 0
    checks: int = 0
    events: int = 0  # progress-worthy entries seen: the `progress` value of notifications
    last_message: str = ""
    last_line: str = ""
    _in_turn: bool = field(default=False, repr=False)

    def feed(self, entry: LogEntry) -> str | None:
        """Account for one log entry; its progress message when it is progress-worthy, else None."""
        kind, text = entry.kind, entry.text
        self.last_line = _cut(f"{kind}: {one_line(relative_paths(text, self.job_id))}", LINE_MAX)
        if kind in ("assistant", "tool_call"):
            if not self._in_turn:  # an assistant message starts a turn; tool results end it
                self.turns += 1
                self._in_turn = True
        elif kind in ("tool_result", "tool_error"):
            self._in_turn = False
        if kind == "result" and (turns := _RESULT_TURNS.search(text)):
            self.turns = int(turns.group(1))  # the agent's own count wins
        if kind not in PROGRESS_KINDS:
            return None
        if kind == "tool_call":
            self.tool_calls += 1
        if kind == "status" and _CHECK_START.match(text):
            self.checks += 1
        self.events += 1
        self.last_message = describe(entry, self.job_id)
        return self.last_message

    def counts(self) -> str:
        return f"turns {self.turns}, tool calls {self.tool_calls}, checks {self.checks}"


def describe(entry: LogEntry, job_id: str) -> str:
    """A short message for one log entry, e.g. `tool call: Write src/app.py` or `check tests: running`."""
    text = relative_paths(entry.text, job_id)
    if entry.kind == "tool_call":
        message = "tool call: " + tool_call_summary(text)
    elif entry.kind == "check":
        message = "check output: " + one_line(text)
    elif entry.kind == "result":
        message = "agent finished: " + one_line(text)
    elif entry.kind == "error":
        message = "error: " + one_line(text)
    else:
        message = one_line(text)
    return _cut(message)


def tool_call_summary(text: str) -> str:
    """`Write {"file_path": "src/app.py", ...}` -> `Write src/app.py`; the log line may be truncated JSON."""
    name, _, raw = text.partition(" ")
    target = ""
    try:
        arguments = json.loads(raw)
    except ValueError:
        arguments = None
    if isinstance(arguments, dict):
        target = next((v for k in TARGET_KEYS if isinstance(v := arguments.get(k), str) and v.strip()), "")
    else:
        keys = "|".join(TARGET_KEYS)
        found = re.search(rf'"(?:{keys})":\s*"((?:[^"\\]|\\.)*)', raw)
        target = found.group(1) if found else ""
    return _cut(f"{name} {one_line(target)}".strip())


def one_line(text: str) -> str:
    return " ".join(text.split())


def relative_paths(text: str, job_id: str) -> str:
    """Paths inside the job's worktree (`…/<job_id>/src/app.py`) shown relative to it (the worktree itself
    as `.`)."""
    if not job_id:
        return text
    return re.sub(
        rf"[^\s\"']*/{re.escape(job_id)}(/|(?=[\s\"']|$))", lambda m: "" if m.group(1) else ".", text
    )


def _cut(text: str, limit: int = MESSAGE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
