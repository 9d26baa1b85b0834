"""Forty jobs through four worker processes on a real redis-server: none lost, none run twice, Redis left
bounded.

The same invariants as `python -m bench.load` (farm_load/invariants.py), at CI size, without timing goals."""

import secrets
from functools import partial
from pathlib import Path

import pytest

from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from farm_load.driver import start_jobs, wait_all
from farm_load.invariants import (
    Expectations,
    all_acknowledged,
    collect_facts,
    gateway_calls_per_job,
    invariant_failures,
    load_prompts,
    redis_footprint,
    write_scenario,
)
from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_workers, stop_worker
from tests.fixtures.mcp_calls import call_ok

JOBS = 40
WORKERS = 4
SCENARIO = "load_ci"


@pytest.fixture
def load_queue(farm: Farm, tmp_path: Path):
    """Four workers (concurrency 1 each, own cache each) consuming one dedicated queue."""
    env = farm_env(
        farm.redis, farm.adapter, farm.sandbox, tmp_path / "cache", queue="ld" + secrets.token_hex(3)
    )
    workers = start_workers(env, WORKERS, tmp_path, concurrency=1)
    yield env
    for worker in workers:
        stop_worker(worker)


async def test_forty_jobs_on_four_workers_complete_once_each_and_leave_redis_bounded(
    farm, load_queue, make_repo, scripted_gateway
):
    scripted_gateway.add_scenario(write_scenario(SCENARIO))
    repo = make_repo(parent=farm.sandbox)
    client, queue, prefix = farm.redis.client(), load_queue["FARM_QUEUE"], load_queue["FARM_KEY_PREFIX"]
    settings = FarmSettings()  # the defaults the workers run with: job TTL and log cap

    async with connect_mcp(farm, **load_queue) as mcp:
        call = partial(call_ok, mcp)  # every answer recorded for the session's leak scan
        submitted = await start_jobs(call, repo, load_prompts(SCENARIO, JOBS))
        results = await wait_all(call, submitted.job_ids, timeout_s=900)
    assert all_acknowledged(client, queue, timeout_s=60), "a finished job's message was never acknowledged"

    facts = collect_facts(
        JobStore(client, prefix, settings.job_ttl_s, settings.log_max_entries), submitted.job_ids
    )
    footprint = redis_footprint(client, prefix, queue, settings.job_ttl_s, settings.log_max_entries)
    calls = gateway_calls_per_job(scripted_gateway.requests(), SCENARIO)
    failures = invariant_failures(
        facts,
        results,
        calls,
        footprint,
        Expectations(turns=len(write_scenario(SCENARIO)["turns"]), workers=WORKERS),
    )

    assert failures == [], "\n".join(failures)
    assert len(submitted.job_ids) == len(set(submitted.job_ids)) == len(results) == JOBS
    assert sum(calls.values()) == 2 * JOBS
    assert footprint.index_entries == JOBS  # this queue's prefix indexes exactly the jobs it ran
