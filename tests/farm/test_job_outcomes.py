"""Failing checks, live scope enforcement, cancel and wait timeouts, through the real farm."""

import time

from farm_core.process_tree import find_job_processes
from tests.fixtures.farm import Farm, connect_mcp
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.waiting import wait_until

FINAL = {"text": "Finished."}


def simple_repo(make_repo, farm: Farm):
    return make_repo({"README.md": "# sample\n", "src/__init__.py": ""}, parent=farm.sandbox)


async def start_job(client, repo, scenario: str, **extra) -> str:
    started = await call_ok(
        client, "start", {"prompt": f"Do the task. [[scenario:{scenario}]]", "repo": str(repo), **extra}
    )
    return started["job_id"]


async def test_failing_check_completes_with_failed_verdict_visible_in_tail(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "fails_check", "turns": [FINAL]})
    repo = simple_repo(make_repo, farm)
    check = {
        "name": "tests",
        "command": "echo 'FAILED tests/test_app.py::test_greet - assert 1 == 2'; exit 1",
    }
    async with connect_mcp(farm, FARM_TOOLS="core,review") as client:  # list_jobs is in review
        job_id = await start_job(client, repo, "fails_check", checks=[check])
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})
        tail = await call_ok(client, "tail", {"job_id": job_id, "lines": 200})
        got = await call_ok(client, "get", {"job_id": job_id})
        rows = await call_ok(client, "list_jobs", {"limit": 20})

    assert done["job_status"] == "completed"
    assert done["checks"] == ["tests: failed"]
    assert any("FAILED tests/test_app.py::test_greet" in line for line in tail["lines"])
    assert done["verdict"] == got["verdict"] == "repair"
    assert next(row for row in rows["jobs"] if row["job_id"] == job_id)["verdict"] == "repair"


async def test_write_outside_scope_is_denied_live(farm, make_repo, scripted_gateway):
    writes = [
        {"name": "Write", "arguments": {"file_path": "{cwd}/src/ok.py", "content": "OK = True\n"}},
        {"name": "Write", "arguments": {"file_path": "{cwd}/README.md", "content": "overwritten\n"}},
    ]
    scripted_gateway.add_scenario({"name": "scope", "turns": [{"tool_calls": writes}, FINAL]})
    repo = simple_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id = await start_job(client, repo, "scope", scoped_patch={"paths": ["src"]})
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})
        tail = await call_ok(client, "tail", {"job_id": job_id, "lines": 200})

    assert done["job_status"] == "completed"
    assert done["verdict"] == "accept"  # the denied write did not land, so the scope held
    assert done["changed_files"] == ["src/ok.py"]
    assert done["checks"][0].startswith("scoped_patch: passed (src; 1 write(s) denied live:")
    assert "README.md" in done["checks"][0]
    assert any("scope: denied Write" in line and "README.md" in line for line in tail["lines"])


async def test_cancel_mid_run_kills_every_process_and_removes_the_worktree(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "slow", "turns": [{**FINAL, "faults": [{"stall_ms": 30000}]}]})
    repo = simple_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id = await start_job(client, repo, "slow")
        assert wait_until(lambda: len(find_job_processes(job_id)) > 0), (
            "the agent should be running before cancel"
        )
        time.sleep(1.0)  # let the CLI reach its (stalled) model call
        assert find_job_processes(job_id)
        cancelled_at = time.monotonic()
        await call_ok(client, "cancel", {"job_id": job_id})
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 10000})
        took = time.monotonic() - cancelled_at

    assert done["job_status"] == "cancelled" and done["verdict"] == "fail"
    assert took < 2.0, f"cancel took {took:.2f} s"
    assert find_job_processes(job_id) == []
    assert not (farm_worktrees(farm) / job_id).exists()


async def test_wait_times_out_with_running_and_the_job_still_completes(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "waits", "turns": [{**FINAL, "faults": [{"stall_ms": 2500}]}]})
    repo = simple_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id = await start_job(client, repo, "waits")
        early = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 300})
        later = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})

    assert early["job_status"] in ("queued", "running") and "verdict" not in early
    assert later["job_status"] == "completed" and later["verdict"] == "accept"  # no checks: nothing to fail


async def test_job_past_its_timeout_ends_timed_out(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "too_slow", "turns": [{**FINAL, "faults": [{"stall_ms": 30000}]}]})
    repo = simple_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id = await start_job(client, repo, "too_slow", timeout_ms=3000)
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 30000})

    assert done["job_status"] == "timed_out" and done["verdict"] == "fail"
    assert find_job_processes(job_id) == []


def farm_worktrees(farm: Farm):
    return farm.log_dir.parent / "cache" / "worktrees"
