"""Progress read from a job's log: counters and one-line messages."""

import json

from farm_core.progress import JobProgress, tool_call_summary
from farm_core.store import LogEntry

JOB = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
WORKTREE = f"/srv/cache/worktrees/{JOB}"


def entry(kind: str, text: str, n: int = 0) -> LogEntry:
    return LogEntry(cursor=f"1-{n}", ts=0.0, kind=kind, text=text)


def call(name: str, **arguments) -> str:
    return f"{name} {json.dumps(arguments)}"


def test_counts_turns_tool_calls_and_checks_and_describes_them():
    progress = JobProgress(JOB)
    log = [
        ("status", "running on box:1"),
        ("assistant", "Reading first."),
        ("tool_call", call("Read", file_path=f"{WORKTREE}/README.md")),
        ("tool_call", call("Write", file_path=f"{WORKTREE}/src/app.py", content="x")),
        ("tool_result", "ok"),
        ("tool_result", "ok"),
        ("tool_call", call("Bash", command=f"cd {WORKTREE} && pytest -q")),
        ("tool_error", "exit 1"),
        ("assistant", "Done."),
        ("result", "success after 3 turns: Done."),
        ("status", "check tests: running"),
        ("check", "1 passed"),
        ("status", "check tests: passed"),
    ]
    messages = [progress.feed(entry(kind, text, n)) for n, (kind, text) in enumerate(log)]

    assert [m for m in messages if m] == [
        "running on box:1",
        "tool call: Read README.md",
        "tool call: Write src/app.py",
        "tool call: Bash cd . && pytest -q",
        "agent finished: success after 3 turns: Done.",
        "check tests: running",
        "check output: 1 passed",
        "check tests: passed",
    ]
    assert messages[1] is None and messages[4] is None  # assistant text and tool results only move counters
    assert (progress.turns, progress.tool_calls, progress.checks, progress.events) == (3, 3, 1, 8)
    assert progress.counts() == "turns 3, tool calls 3, checks 1"
    assert progress.last_line == "status: check tests: passed"


def test_turns_are_counted_before_the_result_says_so():
    progress = JobProgress(JOB)
    for n, (kind, text) in enumerate(
        [
            ("tool_call", call("Read", file_path="a")),
            ("tool_result", "ok"),
            ("tool_call", call("Edit", file_path="a")),
        ]
    ):
        progress.feed(entry(kind, text, n))
    assert progress.turns == 2


def test_summary_of_truncated_arguments():
    whole = call("Write", file_path=f"{WORKTREE}/docs/guide.md", content="x" * 500)
    truncated = whole[: whole.index('"content"') + 30]  # the log keeps the start of long arguments
    progress = JobProgress(JOB)
    assert progress.feed(entry("tool_call", truncated)) == "tool call: Write docs/guide.md"
    assert tool_call_summary("TodoWrite") == "TodoWrite"
    assert tool_call_summary('Grep {"pattern": "def main", "glob": "*.py"}') == "Grep def main"


def test_long_messages_are_cut():
    progress = JobProgress(JOB)
    message = progress.feed(entry("check", "y" * 1000))
    assert len(message) == 120 and message.endswith("…")
