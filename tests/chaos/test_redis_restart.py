"""Redis (configured like the deployed one) stopped and started mid-job, with a `wait` in flight:
the job completes, keeps its log, and the wait returns its result instead of failing."""

import asyncio

from tasks.keys import JobKeys
from tests.fixtures.chaos import JobTraces, assert_no_leftovers, tail_lines
from tests.fixtures.farm import connect_mcp
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_ok

SLOW_FIRST_TURN = {
    "turns": [
        {"faults": [{"stall_ms": 4000}], "tool_calls": [{"name": "Write", "arguments": {"file_path": "{cwd}/out.txt", "content": "done\n"}}]},
        {"text": "Wrote out.txt."},
    ]
}


def subscribers(redis_server, channel: str) -> int:
    return redis_server.client().pubsub_numsub(channel)[0][1]


async def until_subscribed(redis_server, channel: str, more_than: int, timeout: float = 30.0) -> None:
    """Until more than `more_than` clients listen on the channel."""
    deadline = asyncio.get_running_loop().time() + timeout
    while subscribers(redis_server, channel) <= more_than:
        assert asyncio.get_running_loop().time() < deadline, "the wait never subscribed to the job's status channel"
        await asyncio.sleep(0.05)


async def test_redis_restart_mid_job_keeps_the_log_and_the_job_and_its_wait_complete(farm, own_redis, workers, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "redis_restart", **SLOW_FIRST_TURN})
    repo = make_repo(parent=farm.sandbox)
    workers.start()
    async with connect_mcp(farm, **workers.env) as client:
        started = await call_ok(client, "start", {"prompt": "Write it. [[scenario:redis_restart]]", "repo": str(repo)})
        job_id = started["job_id"]
        before = await JobTraces.capture(client, job_id, "system: init")
        events = JobKeys(workers.env["FARM_KEY_PREFIX"], job_id).events
        monitors = subscribers(own_redis, events)  # the worker's job monitor
        waiting = asyncio.create_task(call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000}))
        await until_subscribed(own_redis, events, more_than=monitors)  # Redis goes away under the wait
        own_redis.stop()
        await asyncio.sleep(1.0)
        own_redis.start()
        done = await asyncio.wait_for(waiting, timeout=90)
        after = await tail_lines(client, job_id)

    assert own_redis.client().config_get("appendonly") == {"appendonly": "yes"}
    assert done["job_status"] == "completed", done
    assert done["changed_files"] == ["out.txt"]
    before.assert_log_kept(after)
    assert any("status: completed" in line for line in after[len(before.log) :])
    before.assert_no_orphans()
    assert_no_leftovers(workers.cache, job_id)
    assert git(repo, "status", "--porcelain") == ""
