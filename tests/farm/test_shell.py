"""The shell tool through the real farm: a command runs on a worker in a fresh worktree, no agent, and
comes back as a digest."""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import anyio

from farm_core.process_tree import find_job_processes
from tests.farm.test_bad_input import jobs_recorded, places  # noqa: F401 (places is a fixture)
from tests.farm.test_job_outcomes import farm_worktrees
from tests.farm.test_secrets import every_redis_value
from tests.fixtures.adapter import GATEWAY_KEY
from tests.fixtures.farm import Farm, connect_mcp
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.fixtures.redis_server import REDIS_PASSWORD
from tests.fixtures.waiting import is_gone, wait_until

MATH_TESTS = """\
from calc import add


def test_add_small():
    assert add(1, 1) == 2


def test_add_four():
    assert add(2, 2) == 5
"""
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
SHELL_TOOLS = "core,edit"  # shell is in the edit group (FARM_TOOLS)


def repo_state(repo: Path) -> str:
    """A fingerprint of everything a caller would notice: files with modes, the index, HEAD, branches,
    status."""
    digest = hashlib.sha256()
    for path in sorted(repo.rglob("*")):
        if ".git" in path.relative_to(repo).parts or not path.is_file():
            continue
        digest.update(f"{path.relative_to(repo)}:{path.stat().st_mode}:".encode() + path.read_bytes())
    for name in ("index", "HEAD"):
        digest.update((repo / ".git" / name).read_bytes())
    digest.update(git(repo, "for-each-ref", "refs/heads", "refs/tags").encode())
    digest.update(git(repo, "status", "--porcelain", "--untracked-files=all").encode())
    return digest.hexdigest()


def live_group_members(pgid: int) -> list[int]:
    """PIDs of live (not zombie) processes in a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in "ZX":
                members.append(int(entry.name))
    return members


async def test_passing_command_runs_on_a_snapshot_and_leaves_the_repo_untouched(
    farm: Farm, make_repo, scripted_gateway
):
    repo = make_repo(
        {"README.md": "# sample\n", "calc.py": "def add(a, b):\n    return a + b\n"}, parent=farm.sandbox
    )
    (repo / "README.md").write_text("# sample, edited but not committed\n")
    (repo / "notes.txt").write_text("untracked\n")
    before = repo_state(repo)
    command = (
        "grep -q 'edited but not committed' README.md && test -f notes.txt && echo "
        "built > made.txt && echo 'all good'"
    )
    async with connect_mcp(farm, FARM_TOOLS=SHELL_TOOLS) as client:
        done = await call_ok(client, "shell", {"command": command, "repo": str(repo), "timeout_ms": 60000})
        tail = await call_ok(
            client, "shell", {"command": "seq 1 100", "repo": str(repo), "timeout_ms": 60000, "digest": False}
        )
        view = await call_ok(client, "get", {"job_id": done["job_id"]})

    assert done["job_status"] == "completed"
    assert (done["status"], done["exit_code"], done["failure_kind"]) == ("passed", 0, "none")
    assert done["decisive_lines"] == ["all good"] and done["output_bytes"] == len("all good\n")
    assert done["elapsed_ms"] >= 0 and "tail" not in done
    assert tail["status"] == "passed" and "decisive_lines" not in tail
    assert tail["tail"] == [str(i) for i in range(61, 101)]  # the last 40 lines
    assert (
        view["checks"] == ["shell: passed"]
        and view["shell"]["status"] == "passed"
        and view["verdict"] == "accept"
    )
    assert scripted_gateway.requests() == [], "a shell job must not call the model"
    assert repo_state(repo) == before and not (repo / "made.txt").exists()
    for job_id in (done["job_id"], tail["job_id"]):
        assert not (farm_worktrees(farm) / job_id).exists()


async def test_failing_pytest_is_a_failed_outcome_with_the_assertion(farm: Farm, make_repo):
    repo = make_repo(
        {
            "calc.py": "def add(a, b):\n    return a + b\n",
            "tests/__init__.py": "",
            "tests/test_math.py": MATH_TESTS,
        },
        parent=farm.sandbox,
    )
    async with connect_mcp(farm, FARM_TOOLS="core,read,edit,review") as client:
        result = await client.call_tool("shell", {"command": PYTEST, "repo": str(repo), "timeout_ms": 120000})
        done = result.structured_content
        log = await call_ok(
            client, "get_artifact_slice", {"job_id": done["job_id"], "artifact": "check:shell"}
        )
        rows = await call_ok(client, "list_jobs", {"limit": 5})
        view = await call_ok(client, "get", {"job_id": done["job_id"]})

    assert not result.is_error, "a failing command is an outcome, not a tool error"
    assert done["job_status"] == "completed"
    assert (done["status"], done["exit_code"], done["failure_kind"]) == ("failed", 1, "test_failure")
    assert done["summary_line"].startswith("1 failed, 1 passed in ")
    assert any("assert (2 + 2) == 5" in line or "assert 4 == 5" in line for line in done["decisive_lines"])
    assert any(line.startswith("FAILED tests/test_math.py::test_add_four") for line in done["decisive_lines"])
    assert "test_add_four" in log["text"] and log["total_bytes"] > 0
    row = next(row for row in rows["jobs"] if row["job_id"] == done["job_id"])
    assert (row["kind"], row["shell_status"], row["failure_kind"]) == ("shell", "failed", "test_failure")
    # the command ran and failed: fix the code, not the farm
    assert row["verdict"] == view["verdict"] == "repair"


async def test_command_past_its_timeout_is_timed_out_with_its_process_group_gone(
    farm: Farm, make_repo, tmp_path: Path
):
    repo = make_repo(parent=farm.sandbox)
    pids = tmp_path / "pids"
    command = f"echo $$ > {pids}; sleep 300 & echo $! >> {pids}; echo started; sleep 300"
    async with connect_mcp(farm, FARM_TOOLS=SHELL_TOOLS) as client:
        done = await call_ok(client, "shell", {"command": command, "repo": str(repo), "timeout_ms": 2000})
        view = await call_ok(client, "get", {"job_id": done["job_id"]})

    assert done["job_status"] == "timed_out" and view["verdict"] == "fail"
    assert (done["status"], done["exit_code"], done["failure_kind"]) == ("timed_out", None, "timeout")
    assert done["decisive_lines"] == ["started"]
    leader, child = (int(pid) for pid in pids.read_text().split())
    assert wait_until(lambda: is_gone(leader) and is_gone(child), timeout=10)
    assert live_group_members(leader) == []
    assert find_job_processes(done["job_id"]) == []
    assert not (farm_worktrees(farm) / done["job_id"]).exists()


async def test_still_running_at_the_wait_bound_then_cancelled(farm: Farm, make_repo):
    repo = make_repo(parent=farm.sandbox)
    async with connect_mcp(farm, FARM_TOOLS=SHELL_TOOLS, WAIT_MAX_MS="1500") as client:
        early = await call_ok(
            client, "shell", {"command": "echo waiting; sleep 300", "repo": str(repo), "timeout_ms": 600000}
        )
        job_id = early["job_id"]
        assert early["job_status"] in ("queued", "running") and "status" not in early
        deadline = time.monotonic() + 60
        while not find_job_processes(job_id) and time.monotonic() < deadline:  # the command itself is running
            await anyio.sleep(0.1)
        await call_ok(client, "cancel", {"job_id": job_id})
        ended = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 1500})

    assert ended["job_status"] == "cancelled"
    assert (ended["shell"]["status"], ended["shell"]["failure_kind"]) == ("cancelled", "killed")
    assert find_job_processes(job_id) == []


async def test_secrets_in_the_output_are_redacted_everywhere(farm: Farm, make_repo):
    secrets = [GATEWAY_KEY, farm.adapter.token, REDIS_PASSWORD]
    repo = make_repo(
        {"config.env": f"API_KEY={GATEWAY_KEY}\nADAPTER={farm.adapter.token}\n"}, parent=farm.sandbox
    )
    async with connect_mcp(farm, FARM_TOOLS=SHELL_TOOLS) as client:
        digest = await call_ok(
            client, "shell", {"command": "cat config.env; exit 3", "repo": str(repo), "timeout_ms": 60000}
        )
        tail = await call_ok(
            client,
            "shell",
            {"command": "cat config.env", "repo": str(repo), "timeout_ms": 60000, "digest": False},
        )
        log = await call_ok(client, "tail", {"job_id": digest["job_id"], "lines": 100})

    assert (digest["status"], digest["exit_code"], digest["failure_kind"]) == ("failed", 3, "other")
    assert "ADAPTER=[REDACTED]" in digest["decisive_lines"]
    assert "ADAPTER=[REDACTED]" in tail["tail"]
    stored = every_redis_value(farm.redis.client()).decode(errors="replace")
    for place, text in {
        "responses": json.dumps([digest, tail, log]),
        "redis": stored,
        "worker log": farm.worker_log(),
    }.items():
        for secret in secrets:
            assert secret not in text, f"a planted secret reached the {place}"


async def test_bad_shell_arguments_are_refused_with_codes_and_nothing_is_enqueued(farm: Farm, places):  # noqa: F811
    bad = [
        ("inside", {"command": ""}, "invalid_argument"),
        ("inside", {"command": "   "}, "invalid_argument"),
        ("inside", {"command": "echo " + "x" * 5000}, "invalid_argument"),
        ("inside", {"timeout_ms": 10}, "invalid_argument"),
        ("inside", {"timeout_ms": 10**12}, "invalid_argument"),
        ("inside", {"queue": "no such queue!"}, "invalid_argument"),
        ("inside", {"command": f"curl -H 'x: {farm.adapter.token}' http://127.0.0.1"}, "invalid_argument"),
        ("outside", {}, "repo_outside_sandbox"),
        ("dotdot", {}, "repo_outside_sandbox"),
        ("link", {}, "repo_outside_sandbox"),
        ("plain", {}, "not_a_git_repo"),
        ("inside", {"base": "no-such-branch"}, "snapshot_failed"),
    ]
    before = jobs_recorded(farm)
    async with connect_mcp(farm, FARM_TOOLS=SHELL_TOOLS) as client:
        for where, extra, code in bad:
            error = await call_error(client, "shell", {"command": "true", "repo": places[where], **extra})
            assert error["code"] == code, (where, extra, error)
            assert error["message"] and error["hint"] and "Traceback" not in error["message"]
            assert farm.adapter.token not in json.dumps(error)
        missing = await call_error(client, "shell", {"repo": places["inside"]})
        assert missing["code"] == "invalid_argument" and "command" in missing["message"]
    assert jobs_recorded(farm) == before
    assert git(Path(places["inside"]), "for-each-ref", "refs/codex-farm") == ""
    assert os.path.isdir(places["plain"])
