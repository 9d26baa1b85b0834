"""Fan-out on a real farm: one start queues many jobs, they spread over every worker on the queue, and
`wait` over several jobs returns as soon as any / all of them have ended."""

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_worker, stop_worker
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok

WORKERS = 3
QUICK = {
    "name": "fanout_quick",
    "turns": [
        {
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/out.txt", "content": "quick\n"}}
            ]
        },
        {"text": "Done."},
    ],
}
STALL_MS = 8000  # long enough that no slow job can end before the quick one
SLOW = {
    "name": "fanout_slow",
    "turns": [
        {
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/out.txt", "content": "slow\n"}}
            ],
            "faults": [{"stall_ms": STALL_MS}] * 5,
        },  # faults are used up one per request: one per slow job
        {"text": "Done."},
    ],
}


@pytest.fixture
def pool(farm: Farm, tmp_path: Path):
    """Three worker processes (concurrency 1 each, own cache each) consuming one dedicated queue."""
    env = farm_env(
        farm.redis, farm.adapter, farm.sandbox, tmp_path / "cache", queue="fo" + secrets.token_hex(3)
    )

    def launch(n: int):
        return start_worker(
            {**env, "WORKER_CACHE_DIR": str(tmp_path / f"cache-{n}")},
            tmp_path / f"worker-{n}.log",
            concurrency=1,
        )

    with ThreadPoolExecutor(WORKERS) as starting:
        futures = [starting.submit(launch, n) for n in range(WORKERS)]
    workers = [f.result() for f in futures if f.exception() is None]
    try:
        if len(workers) < WORKERS:
            raise next(f.exception() for f in futures if f.exception() is not None)
        yield env
    finally:
        for worker in workers:
            stop_worker(worker)


def jobs_recorded(farm: Farm, env: dict) -> int:
    return farm.redis.client().zcard(env["FARM_KEY_PREFIX"] + "jobs")


async def test_fanout_spreads_over_every_worker_and_wait_returns_on_any_then_all(
    farm, pool, make_repo, scripted_gateway
):
    scripted_gateway.add_scenario(QUICK)
    scripted_gateway.add_scenario(SLOW)
    repo = make_repo(parent=farm.sandbox)
    (repo / "README.md").write_text("# sample\nuncommitted edit\n")
    jobs = [{"prompt": "Be quick. [[scenario:fanout_quick]]"}] + [
        {"prompt": f"Take your time {n}. [[scenario:fanout_slow]]"} for n in range(5)
    ]

    async with connect_mcp(farm, **pool) as client:
        started = await call_ok(client, "start", {"repo": str(repo), "jobs": jobs})
        ids = [job["job_id"] for job in started["jobs"]]
        began = time.monotonic()
        first = await call_ok(client, "wait", {"job_ids": ids, "mode": "any", "timeout_ms": 100000})
        any_s = time.monotonic() - began
        every = await call_ok(client, "wait", {"job_ids": ids, "mode": "all", "timeout_ms": 100000})
        records = [await call_ok(client, "get", {"job_id": job_id}) for job_id in ids]

    assert list(started) == ["jobs"] and len(ids) == 6 == len(set(ids))
    assert {job["queue"] for job in started["jobs"]} == {pool["FARM_QUEUE"]}

    assert first["mode"] == "any" and first["done"] is True, first
    assert [job["job_id"] for job in first["jobs"]] == ids  # in the order asked
    assert first["jobs"][0]["job_status"] == "completed" and first["jobs"][0]["changed_files"] == [
        "out.txt"
    ], first
    assert first["jobs"][0]["verdict"] == "accept", first
    assert all(
        job == {"job_id": job["job_id"], "job_status": job["job_status"]} for job in first["jobs"][1:]
    ), first
    # the slow ones still going
    assert {job["job_status"] for job in first["jobs"][1:]} <= {"queued", "running"}, first
    print(f"wait any returned after {any_s:.1f} s")

    assert every["mode"] == "all" and every["done"] is True, every
    assert [job["job_status"] for job in every["jobs"]] == ["completed"] * 6, every
    assert (
        [job["verdict"] for job in every["jobs"]]
        == [record["verdict"] for record in records]
        == ["accept"] * 6
    ), every
    assert all(job["changed_files"] == ["out.txt"] for job in every["jobs"])

    workers = [record["worker"] for record in records]
    assert all(workers), records
    assert len(set(workers)) > 1, workers  # the work landed on more than one worker process
    print(f"jobs per worker: { {w: workers.count(w) for w in set(workers)} }")
    assert git(repo, "status", "--porcelain").strip() == "M README.md"  # the caller's tree is untouched


async def test_bad_fanouts_enqueue_nothing(farm, make_repo):
    repo = make_repo(parent=farm.sandbox)
    good = {"prompt": "fine"}
    before = jobs_recorded(farm, farm.env)

    async with connect_mcp(farm) as client:
        nothing = await call_error(client, "start", {"repo": str(repo)})
        empty_jobs = await call_error(client, "start", {"repo": str(repo), "jobs": []})
        no_prompts = await call_error(client, "start", {"repo": str(repo), "jobs": [{}, {}]})
        too_many = await call_error(client, "start", {"repo": str(repo), "jobs": [good] * 33})
        too_many_prompts = await call_error(client, "start", {"repo": str(repo), "matrix": ["p"] * 33})
        bad_entries = [
            await call_error(
                client, "start", {"prompt": "the default", "repo": str(repo), "jobs": [good, bad, good]}
            )
            for bad in (
                {"prompt": "  "},
                {"permission_mode": "yolo"},
                {"repo": "/"},
                {"base": "no-such-branch"},
                {"timeout_ms": 5},
            )
        ]
        bad_field = await call_error(
            client, "start", {"repo": str(repo), "jobs": [good, {"checks": [{"name": "x"}]}]}
        )
        both = await call_error(client, "start", {"repo": str(repo), "jobs": [good], "matrix": ["p"]})

    assert nothing["code"] == "invalid_argument" and "prompt" in nothing["message"]
    assert empty_jobs["message"] == "jobs is empty"
    assert no_prompts["message"] == "jobs[0]: prompt is empty"
    assert too_many["code"] == "invalid_argument" and "FARM_FANOUT_MAX (32)" in too_many["message"]
    assert "FARM_FANOUT_MAX (32)" in too_many_prompts["message"]
    assert [e["code"] for e in bad_entries] == [
        "invalid_argument",
        "invalid_argument",
        "repo_outside_sandbox",
        "snapshot_failed",
        "invalid_argument",
    ], bad_entries
    assert all(e["message"].startswith("jobs[1]: ") and e["hint"] for e in bad_entries), bad_entries
    assert bad_field["code"] == "invalid_argument" and bad_field["message"].startswith(
        "jobs.1.checks.0.command"
    )
    assert both["message"] == "give jobs or matrix, not both"
    assert jobs_recorded(farm, farm.env) == before  # nothing enqueued
    assert git(repo, "for-each-ref", "refs/codex-farm/").strip() == ""  # and no snapshot left pinned
