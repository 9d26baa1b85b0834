"""Many jobs on one box: no git lock errors, no worktree left, the cache under its cap."""

import asyncio
from pathlib import Path

import pytest

from tasks.cache_limits import tree_size
from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_worker, stop_worker
from tests.fixtures.mcp_calls import call_ok

WRITE_AND_FINISH = {
    "turns": [
        {"tool_calls": [{"name": "Write", "arguments": {"file_path": "{cwd}/out.txt", "content": "done\n"}}]},
        {"text": "Done."},
    ]
}
CACHE_CAP_GB = 0.0004  # 400 KB: room for a few small mirrors, so eviction must happen


@pytest.fixture
def box(farm: Farm, tmp_path: Path):
    """One worker host with concurrency 4 and a small mirror cache cap, on its own queue."""
    cache = tmp_path / "cache"
    env = {
        **farm_env(farm.redis, farm.adapter, farm.sandbox, cache, queue="hq" + tmp_path.name[-6:]),
        "WORKER_CACHE_MAX_GB": str(CACHE_CAP_GB),
    }
    worker = start_worker(env, tmp_path / "worker.log", concurrency=4)
    yield env, cache, tmp_path / "worker.log"
    stop_worker(worker)


async def run_jobs(farm: Farm, env: dict, repos: list[Path], scenario: str) -> list[dict]:
    async with connect_mcp(farm, **env) as client:
        ids = [
            (await call_ok(client, "start", {"prompt": f"[[scenario:{scenario}]]", "repo": str(r)}))["job_id"]
            for r in repos
        ]
        return list(
            await asyncio.gather(*(call_ok(client, "wait", {"job_id": i, "timeout_ms": 100000}) for i in ids))
        )


async def test_eight_jobs_on_one_repo_at_once(farm, box, make_repo, scripted_gateway):
    env, cache, worker_log = box
    scripted_gateway.add_scenario({"name": "same_repo", **WRITE_AND_FINISH})
    repo = make_repo({"big.txt": "x" * 50_000}, parent=farm.sandbox)

    results = await run_jobs(farm, env, [repo] * 8, "same_repo")

    assert [r["job_status"] for r in results] == ["completed"] * 8, results
    assert all(r["changed_files"] == ["out.txt"] for r in results)
    assert list((cache / "worktrees").iterdir()) == [] and list((cache / "owned").iterdir()) == []
    assert ".lock" not in Path(worker_log).read_text()


async def test_fifty_jobs_leave_no_worktree_and_keep_the_cache_under_its_cap(
    farm, box, make_repo, scripted_gateway
):
    env, cache, _ = box
    scripted_gateway.add_scenario({"name": "many", **WRITE_AND_FINISH})
    repos = [make_repo({"payload.txt": f"{n}" * 60_000}, parent=farm.sandbox) for n in range(10)]

    results = []
    for _ in range(5):
        results += await run_jobs(farm, env, repos, "many")

    assert len(results) == 50 and all(r["job_status"] == "completed" for r in results)
    assert list((cache / "worktrees").iterdir()) == [] and list((cache / "owned").iterdir()) == []
    mirrors_size = tree_size(cache / "mirrors")
    print(f"mirror cache after 50 jobs: {mirrors_size} bytes (cap {int(CACHE_CAP_GB * 1e9)})")
    assert 0 < mirrors_size <= CACHE_CAP_GB * 1e9
