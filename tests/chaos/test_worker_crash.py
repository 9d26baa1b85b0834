"""A worker killed with SIGKILL mid-job: the job is redelivered and completes exactly once, or ends lost."""

import time

from tests.fixtures.chaos import (
    RECOVERY_ENV,
    JobTraces,
    assert_no_leftovers,
    command_lines,
    job_leftovers,
    job_processes,
    job_record,
    tail_lines,
)
from tests.fixtures.farm import connect_mcp
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.waiting import wait_until

BACKGROUND_COMMAND = "tail -f README.md"
# The agent starts a command it leaves running (the CLI gives it a session of its own, so it does not
# die with the CLI), then waits on a stalled model call: the worker is killed meanwhile.
BACKGROUND_THEN_SLOW = {
    "turns": [
        {
            "tool_calls": [
                {
                    "name": "Bash",
                    "arguments": {
                        "command": BACKGROUND_COMMAND,
                        "run_in_background": True,
                        "description": "Follow the readme",
                    },
                }
            ]
        },
        {
            "faults": [{"stall_ms": 6000}],
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/out.txt", "content": "done\n"}}
            ],
        },
        {"text": "Wrote out.txt."},
    ]
}


async def start_job(client, repo, name: str) -> str:
    started = await call_ok(client, "start", {"prompt": f"Write it. [[scenario:{name}]]", "repo": str(repo)})
    return started["job_id"]


async def traces_with_background_command(client, job_id: str) -> JobTraces:
    """The job's traces once the agent's background command runs (it must be among the recorded processes)."""
    assert wait_until(lambda: BACKGROUND_COMMAND in command_lines(job_processes(job_id)), timeout=30), (
        "no background command"
    )
    return await JobTraces.capture(client, job_id, "tool_result")


async def test_killed_worker_job_is_redelivered_and_completes_exactly_once(
    farm, workers, own_redis, make_repo, scripted_gateway
):
    scripted_gateway.add_scenario({"name": "redeliver", **BACKGROUND_THEN_SLOW})
    repo = make_repo(parent=farm.sandbox)
    first = workers.start()
    async with connect_mcp(farm, **workers.env) as client:
        job_id = await start_job(client, repo, "redeliver")
        before = await traces_with_background_command(client, job_id)
        second = workers.start()
        workers.kill(first)
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})
        after = await tail_lines(client, job_id)

    assert done["job_status"] == "completed", done
    assert done["changed_files"] == ["out.txt"]
    assert job_record(own_redis, workers.env, job_id)["attempts"] == "2"
    assert sum("status: completed" in line for line in after) == 1
    assert sum("status: running on" in line for line in after) == 2
    assert any("stopped heartbeating; requeued (attempt 2 of 2)" in line for line in after)
    before.assert_log_kept(after)
    # The first run's agent died with its worker; what it left running was stopped before the requeue.
    assert any("process(es) left by worker" in line for line in after)
    before.assert_no_orphans()
    assert_no_leftovers(workers.cache, job_id)
    assert second.poll() is None


async def test_killed_worker_with_no_other_worker_ends_lost_with_a_reason(
    farm, workers, make_repo, scripted_gateway
):
    scripted_gateway.add_scenario({"name": "orphaned", **BACKGROUND_THEN_SLOW})
    repo = make_repo(parent=farm.sandbox)
    only = workers.start(FARM_MAX_ATTEMPTS="1")
    async with connect_mcp(farm, **workers.env, FARM_MAX_ATTEMPTS="1") as client:
        job_id = await start_job(client, repo, "orphaned")
        before = await traces_with_background_command(client, job_id)
        workers.kill(only)
        killed_at = time.monotonic()
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 30000})
        took = time.monotonic() - killed_at
        after = await tail_lines(client, job_id)

    assert done["job_status"] == "lost", done
    assert "stopped heartbeating" in done["error"] and "FARM_MAX_ATTEMPTS" in done["error"]
    assert took < float(RECOVERY_ENV["FARM_LOST_GRACE_S"]) + 6
    assert after[-1].endswith("lost: " + done["error"])
    before.assert_log_kept(after)
    # The agent died with its worker (PR_SET_PDEATHSIG); its background command was stopped when the job was
    # declared lost.
    assert any("process(es) left by worker" in line for line in after)
    before.assert_no_orphans()
    # Nobody was left to remove the worktree and the job's home; the next worker on this cache does, at start.
    # worktree, home, mirror record
    assert len(job_leftovers(workers.cache, job_id)) == 3, job_leftovers(workers.cache, job_id)
    workers.start(FARM_MAX_ATTEMPTS="1")
    assert wait_until(lambda: not job_leftovers(workers.cache, job_id), timeout=20), job_leftovers(
        workers.cache, job_id
    )
    assert_no_leftovers(workers.cache, job_id)
