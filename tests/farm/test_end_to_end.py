"""The whole farm with real parts: MCP over stdio → Celery on Redis → worker → worktree → Claude Code."""

import subprocess

from tests.fixtures.farm import connect_mcp
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_ok

FIX_SCENARIO = {
    "name": "farm_fix",
    "turns": [
        {
            "text": "Reading and drafting in parallel.",
            "tool_calls": [
                {"name": "Read", "arguments": {"file_path": "{cwd}/README.md"}},
                {
                    "name": "Write",
                    "arguments": {
                        "file_path": "{cwd}/src/app.py",
                        "content": "def greet():\n    return 'hello'\n",
                    },
                },
            ],
        },
        {
            "expect": ["local edit"],
            "tool_calls": [
                {
                    "name": "Edit",
                    "arguments": {
                        "file_path": "{cwd}/src/app.py",
                        "old_string": "'hello'",
                        "new_string": "'hello farm'",
                    },
                }
            ],
        },
        {"text": "src/app.py now greets the farm."},
    ],
}


async def test_job_runs_on_worker_and_comes_back_verified(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(FIX_SCENARIO)
    repo = make_repo(
        {"README.md": "# sample\n", "tests.sh": "grep -q 'hello farm' src/app.py\n"}, parent=farm.sandbox
    )
    (repo / "README.md").write_text("# sample\nlocal edit, not committed\n")
    (repo / "notes.txt").write_text("untracked\n")
    before = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), git(repo, "stash", "list"))

    async with connect_mcp(farm) as client:
        started = await call_ok(
            client,
            "start",
            {
                "prompt": "Make greet() greet the farm. [[scenario:farm_fix]]",
                "repo": str(repo),
                "checks": [{"name": "tests", "command": "bash tests.sh", "timeout_ms": 30000}],
            },
        )
        assert started["job_status"] == "queued"
        done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 90000})
        with_diff = await call_ok(client, "get", {"job_id": started["job_id"], "include_diff": True})

    assert done["job_status"] == "completed", done
    assert done["changed_files"] == ["src/app.py"]
    assert done["checks"] == ["tests: passed"]
    assert done["worker"] and done["elapsed_ms"] > 0
    assert done["diff"] == ""  # Codex sees no diff unless it asks
    assert done["usage"]["output_tokens"] > 0
    assert (
        git(repo, "status", "--porcelain"),
        git(repo, "rev-parse", "HEAD"),
        git(repo, "stash", "list"),
    ) == before
    assert not (repo / "src").exists()
    applied = subprocess.run(
        ["git", "apply", "--check", "-"], cwd=repo, input=with_diff["diff"].encode(), capture_output=True
    )
    assert applied.returncode == 0, applied.stderr
    assert "+    return 'hello farm'" in with_diff["diff"]
