"""Gateway faults in the middle of a real job: the adapter or the CLI retries and the job completes,
or the CLI gives up and the job ends failed with the API error as its reason."""

from pathlib import Path

import pytest

from tests.fixtures.chaos import JobTraces, assert_no_leftovers, tail_lines
from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_worker, stop_worker
from tests.fixtures.mcp_calls import call_ok

SECOND_CONTENT = "second file, long enough to be streamed in several pieces\n"
# The first model call is held this long, so the job's log and processes are recorded before the fault.
FIRST_CALL_STALL_MS = 1500


def write(name: str, content: str) -> dict:
    return {"name": "Write", "arguments": {"file_path": "{cwd}/" + name, "content": content}}


def scenario(name: str, faults: list[dict]) -> dict:
    """A first tool call, then the faults on the model call that writes the second file, then a final
    answer."""
    return {
        "name": name,
        "turns": [
            {"tool_calls": [write("first.txt", "first\n")], "faults": [{"stall_ms": FIRST_CALL_STALL_MS}]},
            {"tool_calls": [write("second.txt", SECOND_CONTENT)], "chunks": 4, "faults": faults},
            {"text": "Wrote both files."},
        ],
    }


async def run_faulty_job(farm: Farm, repo: Path, name: str, env: dict) -> tuple[dict, JobTraces, list[str]]:
    """Start the job, record its traces during the first (stalled) model call, wait for its end."""
    async with connect_mcp(farm, **env) as client:
        started = await call_ok(
            client,
            "start",
            {"prompt": f"Write both. [[scenario:{name}]]", "repo": str(repo), "include_diff": True},
        )
        job_id = started["job_id"]
        before = await JobTraces.capture(client, job_id, "system: init")
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 100000})
        after = await tail_lines(client, job_id)
    return done, before, after


def faulted_turn(gateway) -> list[tuple[int, str | None]]:
    """(HTTP status, fault kind) of every request the gateway got for the faulted turn, in order."""
    return [
        (entry["status"], next(iter(entry["fault"]), None) if entry["fault"] else None)
        for entry in gateway.requests()
        if entry.get("turn") == 1
    ]


def assert_clean(farm_cache: Path, before: JobTraces, after: list[str]) -> None:
    before.assert_log_kept(after)
    before.assert_no_orphans()
    assert_no_leftovers(farm_cache, before.job_id)


RECOVERED = {
    # Retry-After honoured by the adapter; the CLI never sees the 429.
    "rate_limited": ([{"status": 429, "retry_after": 1}], [(429, "status"), (200, None)], False),
    # More 500s than the adapter's retries (ADAPTER_RETRIES=2): the CLI gets a 500 and retries itself.
    "server_errors": ([{"status": 500}] * 4, [(500, "status")] * 4 + [(200, None)], True),
    # RST before any answer: a transport error, retried by the adapter.
    "connection_reset": ([{"reset": True}], [(0, "reset"), (200, None)], False),
    # The stream breaks inside the tool call's arguments: the adapter ends it with an error event and
    # the CLI asks again (without streaming); the half-sent call is never run.
    "cut_in_arguments": ([{"cut_after_chunks": 3}], [(200, "cut_after_chunks"), (200, None)], False),
}


@pytest.mark.parametrize("name", list(RECOVERED))
async def test_fault_is_retried_and_the_job_completes(farm, make_repo, scripted_gateway, name):
    faults, expected_requests, cli_retried = RECOVERED[name]
    scripted_gateway.add_scenario(scenario(name, faults))
    repo = make_repo(parent=farm.sandbox)

    done, before, after = await run_faulty_job(farm, repo, name, {})

    assert done["job_status"] == "completed", done
    assert done["changed_files"] == ["first.txt", "second.txt"]
    assert "+" + SECOND_CONTENT.strip() in done["diff"]  # the whole arguments, not the half before the cut
    assert faulted_turn(scripted_gateway) == expected_requests
    assert sum("tool_call: Write" in line for line in after) == 2
    assert any("system: api_retry" in line for line in after) == cli_retried
    assert_clean(Path(farm.env["WORKER_CACHE_DIR"]), before, after)


@pytest.fixture(scope="module")
def impatient_worker(farm: Farm, tmp_path_factory):
    """A worker whose CLI retries a failed model call once (CLAUDE_CODE_* reaches the CLI), so giving up is
    quick."""
    folder = tmp_path_factory.mktemp("impatient")
    env = farm_env(farm.redis, farm.adapter, farm.sandbox, folder / "cache", queue="iq" + folder.name[-6:])
    worker = start_worker({**env, "CLAUDE_CODE_MAX_RETRIES": "1"}, folder / "worker.log")
    yield env
    stop_worker(worker)


GIVEN_UP = {
    # Every call fails: 2 CLI attempts of 3 adapter attempts each.
    "server_errors_persist": ([{"status": 500}] * 20, [(500, "status")] * 6, "upstream returned HTTP 500"),
    # Every stream is cut: after the cut stream, the CLI's non-streaming try is cut too.
    "cuts_persist": (
        [{"cut_after_chunks": 3}] * 20,
        [(200, "cut_after_chunks")] * 2,
        "unreadable upstream response: RemoteProtocolError",
    ),
}


@pytest.mark.parametrize("name", list(GIVEN_UP))
async def test_persistent_fault_fails_the_job_with_the_api_error(
    farm, impatient_worker, make_repo, scripted_gateway, name
):
    faults, expected_requests, reason = GIVEN_UP[name]
    scripted_gateway.add_scenario(scenario(name, faults))
    repo = make_repo(parent=farm.sandbox)

    done, before, after = await run_faulty_job(farm, repo, name, impatient_worker)

    assert done["job_status"] == "failed", done
    assert done["error"].startswith("agent ended with an error: API Error: 500"), done["error"]
    assert reason in done["error"]
    assert done["changed_files"] == ["first.txt"]  # the work before the fault is kept in the patch
    assert faulted_turn(scripted_gateway) == expected_requests
    assert any(line.split(" ", 1)[1].startswith("status: failed") for line in after)
    assert_clean(Path(impatient_worker["WORKER_CACHE_DIR"]), before, after)
