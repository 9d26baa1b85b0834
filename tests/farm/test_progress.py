"""Live progress: MCP progress notifications from `wait`, and `codex-farm wait JOB` on the command line."""

import json
import os
import subprocess
import sys

from tests.fixtures.farm import connect_mcp
from tests.fixtures.mcp_calls import call_ok

STEPS = {
    "name": "progress_steps",
    "turns": [
        {
            "text": "Writing the module.",
            "tool_calls": [
                {
                    "name": "Write",
                    "arguments": {
                        "file_path": "{cwd}/src/app.py",
                        "content": "def greet():\n    return 'hi'\n",
                    },
                }
            ],
        },
        {
            "tool_calls": [
                {
                    "name": "Edit",
                    "arguments": {
                        "file_path": "{cwd}/src/app.py",
                        "old_string": "'hi'",
                        "new_string": "'hi farm'",
                    },
                }
            ]
        },
        {"text": "greet() now greets the farm."},
    ],
}
CHECK = {"name": "tests", "command": "grep -q 'hi farm' src/app.py", "timeout_ms": 30000}


async def test_wait_sends_progress_notifications_for_tool_calls_and_checks(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(STEPS)
    repo = make_repo(parent=farm.sandbox)
    notes: list[tuple[float, str]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, message or ""))

    async with connect_mcp(farm) as client:
        started = await call_ok(
            client,
            "start",
            {"prompt": "Greet the farm. [[scenario:progress_steps]]", "repo": str(repo), "checks": [CHECK]},
        )
        result = await client.call_tool(
            "wait", {"job_id": started["job_id"], "timeout_ms": 90000}, progress_callback=on_progress
        )
        # no token: no notifications
        quiet = await client.call_tool("wait", {"job_id": started["job_id"], "timeout_ms": 1000})

    assert not result.is_error and result.structured_content["job_status"] == "completed", (
        result.structured_content
    )
    assert not quiet.is_error
    messages = [message for _, message in notes]
    assert len(notes) >= 2, notes
    assert any(m.startswith("tool call: Write src/app.py") for m in messages), messages
    assert any(m.startswith("tool call: Edit src/app.py") for m in messages), messages
    assert any(m.startswith("check tests: running") for m in messages), messages
    assert any(m.startswith("check tests: passed") for m in messages), messages
    assert "tool calls 2" in messages[-1] and "checks 1" in messages[-1]
    progress = [p for p, _ in notes]
    assert progress == sorted(set(progress)), "progress must strictly increase"


async def test_wait_command_follows_a_job_to_its_result(farm, make_repo, scripted_gateway):
    # the command is following before the first tool call
    slow_first_turn = {
        **STEPS["turns"][0],
        "chunks": 4,
        "delay_ms": 800,
    }
    scripted_gateway.add_scenario({"name": "progress_live", "turns": [slow_first_turn, *STEPS["turns"][1:]]})
    repo = make_repo(parent=farm.sandbox)
    async with connect_mcp(farm) as client:
        started = await call_ok(
            client,
            "start",
            {"prompt": "Greet the farm. [[scenario:progress_live]]", "repo": str(repo), "checks": [CHECK]},
        )
        follower = subprocess.Popen(
            [sys.executable, "-m", "codex_farm", "wait", started["job_id"], "--timeout", "90"],
            env={**os.environ, **farm.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
    stdout, stderr = follower.communicate(timeout=150)

    assert follower.returncode == 0, stdout + stderr
    lines = stdout.splitlines()
    result = json.loads(lines[-1])
    assert (
        result["job_status"] == "completed"
        and result["changed_files"] == ["src/app.py"]
        and result["checks"] == ["tests: passed"]
    )
    assert result["verdict"] == "accept"
    # progress lines; the others are the log's earlier tail
    live = [line for line in lines[:-1] if " | " in line]
    assert "\r" not in stdout  # not a terminal: plain lines
    assert any("| tool_call: Write" in line and "src/app.py" in line for line in live), stdout
    assert any("tool calls 2" in line for line in live), stdout
    assert live[-1].startswith("completed ")


async def test_wait_command_exit_statuses(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "progress_slow", "turns": [{"text": "Nothing to change."}]})
    repo = make_repo(parent=farm.sandbox)
    slow = {"name": "slow", "command": "sleep 60", "timeout_ms": 120000}
    async with connect_mcp(farm) as client:
        started = await call_ok(
            client, "start", {"prompt": "[[scenario:progress_slow]]", "repo": str(repo), "checks": [slow]}
        )
        job_id = started["job_id"]

        timed_out = wait_command(farm, job_id, "--timeout", "2")
        await call_ok(client, "cancel", {"job_id": job_id})
        cancelled = wait_command(farm, job_id, "--timeout", "30")

    assert timed_out.returncode == 2, timed_out.stdout + timed_out.stderr
    still_going = json.loads(timed_out.stdout.splitlines()[-1])
    assert still_going["job_status"] in ("queued", "running") and "verdict" not in still_going
    assert cancelled.returncode == 1, cancelled.stdout + cancelled.stderr
    ended = json.loads(cancelled.stdout.splitlines()[-1])
    assert (ended["job_status"], ended["verdict"]) == ("cancelled", "fail")
    unknown = wait_command(farm, "0" * 32)
    assert unknown.returncode == 3 and "no job" in unknown.stderr


def wait_command(farm, job_id: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "codex_farm", "wait", job_id, *args],
        env={**os.environ, **farm.env},
        capture_output=True,
        text=True,
        timeout=150,
        stdin=subprocess.DEVNULL,
    )
