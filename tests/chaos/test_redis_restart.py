"""Redis (configured like the deployed one) stopped and started mid-job, with a `wait` in flight:
the job completes, keeps its log, and the wait returns its result instead of failing.

Without persistence the restart loses the job: the wait ends `unknown_job` saying so, the worker stops the run
it can no longer report, and nothing it writes afterwards is left in Redis without a TTL."""

import asyncio

from farm_core.keys import JobKeys
from mcp_frontend.errors import VANISHED_HINT
from tests.fixtures.chaos import DEPLOY_REDIS_OPTIONS, JobTraces, Workers, assert_no_leftovers, tail_lines
from tests.fixtures.farm import connect_mcp
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.fixtures.processes import free_port
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import wait_until

SLOW_FIRST_TURN = {
    "turns": [
        {
            "faults": [{"stall_ms": 4000}],
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/out.txt", "content": "done\n"}}
            ],
        },
        {"text": "Wrote out.txt."},
    ]
}


def subscribers(redis_server, channel: str) -> int:
    return redis_server.client().pubsub_numsub(channel)[0][1]


async def until_subscribed(redis_server, channel: str, more_than: int, timeout: float = 30.0) -> None:
    """Until more than `more_than` clients listen on the channel."""
    deadline = asyncio.get_running_loop().time() + timeout
    while subscribers(redis_server, channel) <= more_than:
        assert asyncio.get_running_loop().time() < deadline, (
            "the wait never subscribed to the job's status channel"
        )
        await asyncio.sleep(0.05)


async def test_redis_restart_mid_job_keeps_the_log_and_the_job_and_its_wait_complete(
    farm, own_redis, workers, make_repo, scripted_gateway
):
    scripted_gateway.add_scenario({"name": "redis_restart", **SLOW_FIRST_TURN})
    repo = make_repo(parent=farm.sandbox)
    workers.start()
    async with connect_mcp(farm, **workers.env) as client:
        started = await call_ok(
            client, "start", {"prompt": "Write it. [[scenario:redis_restart]]", "repo": str(repo)}
        )
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


def keys_without_ttl(redis_server: RedisServer, prefix: str) -> dict[str, int]:
    client = redis_server.client()
    return {key.decode(): ttl for key in client.scan_iter(match=f"{prefix}*") if (ttl := client.ttl(key)) < 0}


async def test_redis_restart_without_persistence_ends_the_wait_with_unknown_job_and_leaves_no_key_without_ttl(
    farm, make_repo, scripted_gateway, tmp_path
):
    scripted_gateway.add_scenario({"name": "redis_forgets", **SLOW_FIRST_TURN})
    volatile = RedisServer(free_port(), tmp_path, persistent=False, options=DEPLOY_REDIS_OPTIONS)
    volatile.start()
    workers = Workers(farm, volatile, tmp_path)
    try:
        workers.start()
        repo = make_repo(parent=farm.sandbox)
        prefix = workers.env["FARM_KEY_PREFIX"]
        async with connect_mcp(farm, **workers.env) as client:
            started = await call_ok(
                client, "start", {"prompt": "Write it. [[scenario:redis_forgets]]", "repo": str(repo)}
            )
            job_id = started["job_id"]
            before = await JobTraces.capture(client, job_id, "system: init")
            events = JobKeys(prefix, job_id).events
            monitors = subscribers(volatile, events)
            waiting = asyncio.create_task(call_error(client, "wait", {"job_id": job_id, "timeout_ms": 60000}))
            await until_subscribed(volatile, events, more_than=monitors)
            volatile.stop()
            await asyncio.sleep(1.0)
            volatile.start()  # empty: no append-only file to load
            vanished = await asyncio.wait_for(waiting, timeout=90)
            before.assert_no_orphans(timeout=30)  # its heartbeat found no record: the worker stopped the run
            assert wait_until(lambda: volatile.client().exists(JobKeys(prefix, job_id).log), timeout=30), (
                "the worker logged nothing"
            )
            got = await call_error(client, "get", {"job_id": job_id})

        assert volatile.client().config_get("appendonly") == {"appendonly": "no"}
        assert vanished["code"] == "unknown_job" and vanished["hint"] == VANISHED_HINT, vanished
        assert vanished["message"] == f"job {job_id!r} vanished from Redis while waiting for it"
        # its log, written after the restart, outlived it
        assert got["code"] == "unknown_job" and got["hint"] == VANISHED_HINT
        assert not volatile.client().exists(JobKeys(prefix, job_id).record)
        assert wait_until(lambda: not volatile.client().exists(JobKeys(prefix, job_id).lease), timeout=30)
        assert keys_without_ttl(volatile, prefix) == {}
        assert_no_leftovers(workers.cache, job_id)
    finally:
        workers.stop_all()
        volatile.stop()
