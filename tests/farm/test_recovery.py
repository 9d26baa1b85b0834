"""Crashes and restarts: a killed worker's job is redelivered exactly once or ends lost; Redis restarts are survived."""

import os
import signal
import time
from pathlib import Path

import pytest

from tasks.process_tree import find_job_processes
from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_worker, stop_worker
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.processes import free_port
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import is_gone, wait_until

# Fast failure detection for the test; production defaults are in tasks/settings.py.
RECOVERY_ENV = {"FARM_HEARTBEAT_S": "0.3", "FARM_LEASE_S": "1.5", "FARM_LOST_GRACE_S": "2", "FARM_RECONCILE_S": "0.3"}
SLOW_FIRST_TURN = {
    "turns": [
        {"faults": [{"stall_ms": 6000}], "tool_calls": [{"name": "Write", "arguments": {"file_path": "{cwd}/out.txt", "content": "done\n"}}]},
        {"text": "Wrote out.txt."},
    ]
}


@pytest.fixture
def own_redis(tmp_path: Path):
    """A persistent redis-server of this test only (it gets stopped and started)."""
    server = RedisServer(free_port(), tmp_path, persistent=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers(farm: Farm, own_redis: RedisServer, tmp_path: Path):
    """Factory for workers on this test's Redis and queue; all stopped afterwards."""
    started = []
    env = {**farm_env(own_redis, farm.adapter, farm.sandbox, tmp_path / "cache", queue="rq" + tmp_path.name[-6:]), **RECOVERY_ENV}

    def start(**extra: str):
        process = start_worker({**env, **extra}, tmp_path / f"worker{len(started)}.log")
        started.append(process)
        return process

    start.env = env
    yield start
    for process in started:
        stop_worker(process)


def job_record(redis_server: RedisServer, env: dict, job_id: str) -> dict:
    raw = redis_server.client().hgetall(f"{env['FARM_KEY_PREFIX']}job:{job_id}")
    return {k.decode(): v.decode() for k, v in raw.items()}



async def start_slow_job(client, repo, name: str) -> str:
    started = await call_ok(client, "start", {"prompt": f"Write it. [[scenario:{name}]]", "repo": str(repo)})
    return started["job_id"]


async def test_killed_worker_job_is_redelivered_and_completes_exactly_once(farm, own_redis, workers, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "redeliver", **SLOW_FIRST_TURN})
    repo = make_repo(parent=farm.sandbox)
    first = workers()
    async with connect_mcp(farm, **workers.env) as client:
        job_id = await start_slow_job(client, repo, "redeliver")
        assert wait_until(lambda: len(find_job_processes(job_id)) >= 1), "agent should be running on the first worker"
        first_run_pids = find_job_processes(job_id)
        second = workers()
        os.kill(first.pid, signal.SIGKILL)  # the worker's main process, with no chance to clean up
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})
        tail = await call_ok(client, "tail", {"job_id": job_id, "lines": 500})

    record = job_record(own_redis, workers.env, job_id)
    assert done["job_status"] == "completed", done
    assert done["changed_files"] == ["out.txt"]
    assert record["attempts"] == "2"
    assert sum("status: completed" in line for line in tail["lines"]) == 1
    assert sum("status: running on" in line for line in tail["lines"]) == 2
    assert any("stopped heartbeating; requeued (attempt 2 of 2)" in line for line in tail["lines"])
    assert all(is_gone(pid) for pid in first_run_pids), "a process of the killed worker survived"
    assert second.poll() is None


async def test_killed_worker_with_no_other_worker_ends_lost_with_a_reason(farm, own_redis, workers, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "orphaned", **SLOW_FIRST_TURN})
    repo = make_repo(parent=farm.sandbox)
    only = workers(FARM_MAX_ATTEMPTS="1")
    async with connect_mcp(farm, **workers.env, FARM_MAX_ATTEMPTS="1") as client:
        job_id = await start_slow_job(client, repo, "orphaned")
        assert wait_until(lambda: len(find_job_processes(job_id)) >= 1)
        os.kill(only.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 30000})
        took = time.monotonic() - killed_at

    assert done["job_status"] == "lost", done
    assert "stopped heartbeating" in done["error"] and "FARM_MAX_ATTEMPTS" in done["error"]
    assert took < float(RECOVERY_ENV["FARM_LOST_GRACE_S"]) + 6
    assert wait_until(lambda: find_job_processes(job_id) == [], timeout=5)


async def test_redis_restart_mid_job_keeps_the_log_and_the_job_completes(farm, own_redis, workers, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "redis_restart", **SLOW_FIRST_TURN})
    repo = make_repo(parent=farm.sandbox)
    workers()
    async with connect_mcp(farm, **workers.env) as client:
        job_id = await start_slow_job(client, repo, "redis_restart")
        assert wait_until(lambda: len(find_job_processes(job_id)) >= 1)
        before = await call_ok(client, "tail", {"job_id": job_id, "lines": 500})
        own_redis.stop()
        time.sleep(1.0)
        own_redis.start()
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})
        after = await call_ok(client, "tail", {"job_id": job_id, "lines": 500})

    assert done["job_status"] == "completed", done
    assert after["lines"][: len(before["lines"])] == before["lines"]
    assert any("status: completed" in line for line in after["lines"][len(before["lines"]) :])
    assert git(repo, "status", "--porcelain") == ""
