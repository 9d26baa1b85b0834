"""auto_revise through the real farm: a failing check sends the agent a digest in the same session."""

import json
import secrets
import time

import anyio

from farm_core.process_tree import find_job_processes
from tests.fixtures.farm import Farm, connect_mcp, start_worker, stop_worker
from tests.fixtures.mcp_calls import call_ok

DECISIVE = "FAILED test_greet: src/app.py does not greet the farm"
# The check also leaves a report behind: check output never becomes part of the result.
CHECK = {
    "name": "tests",
    "command": f"mkdir -p reports && date > reports/run.txt; grep -q 'hello farm' src/app.py || {{ echo "
    f"'{DECISIVE}'; exit 1; }}",
    "timeout_ms": 30000,
}
WRONG = {
    "tool_calls": [
        {
            "name": "Write",
            "arguments": {"file_path": "{cwd}/src/app.py", "content": "def greet():\n    return 'hello'\n"},
        }
    ]
}
FIX = {
    "expect": [DECISIVE, "revision pass 2 of 2"],
    "tool_calls": [
        {
            "name": "Edit",
            "arguments": {
                "file_path": "{cwd}/src/app.py",
                "old_string": "'hello'",
                "new_string": "'hello farm'",
            },
        }
    ],
}


def revise_scenario(name: str, fix_faults: list | None = None) -> dict:
    fix = {**FIX, "faults": fix_faults} if fix_faults else FIX
    return {
        "name": name,
        "turns": [WRONG, {"text": "Wrote src/app.py."}, fix, {"text": "src/app.py now greets the farm."}],
    }


async def run_job(farm: Farm, repo, scenario: str, timeout_ms: int = 90000, **extra) -> dict:
    async with connect_mcp(farm) as client:
        started = await call_ok(
            client,
            "start",
            {
                "prompt": f"Make greet() greet the farm. [[scenario:{scenario}]]",
                "repo": str(repo),
                "checks": [CHECK],
                **extra,
            },
        )
        return await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": timeout_ms})


def turns_served(gateway, scenario: str) -> list[int]:
    return [r["turn"] for r in gateway.requests() if r["scenario"] == scenario and r["status"] == 200]


async def test_failed_check_is_revised_in_the_same_session(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(revise_scenario("revise_ok"))
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)

    done = await run_job(farm, repo, "revise_ok", auto_revise=1, include_diff=True)

    assert done["job_status"] == "completed", done
    assert done["checks"] == ["tests: passed"]
    assert done["passes"] == [
        {"pass": 1, "model": None, "checks": ["tests: failed"]},
        {"pass": 2, "model": None, "checks": ["tests: passed"]},
    ]
    assert done["changed_files"] == ["src/app.py"]  # the check's reports/ stays out
    assert "+    return 'hello farm'" in done["diff"]
    assert turns_served(scripted_gateway, "revise_ok") == [0, 1, 2, 3]
    billed = scripted_gateway.usage()["per_scenario"]["revise_ok"]  # usage adds up every pass
    assert (done["usage"]["input_tokens"], done["usage"]["output_tokens"]) == (
        billed["prompt_tokens"],
        billed["completion_tokens"],
    )
    # One conversation: the revise request carries the first pass's history and the digest.
    fix_request = next(
        r for r in scripted_gateway.requests() if r["scenario"] == "revise_ok" and r["turn"] == 2
    )
    text = json.dumps(fix_request["body"]["messages"])
    assert (
        "Make greet() greet the farm." in text and DECISIVE in text and "do not touch unrelated files" in text
    )


async def test_without_auto_revise_the_failed_check_stands_after_one_pass(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(revise_scenario("revise_off"))
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)

    done = await run_job(farm, repo, "revise_off")

    assert done["job_status"] == "completed", done
    assert done["checks"] == ["tests: failed"]
    assert "passes" not in done  # the default result stays small
    assert turns_served(scripted_gateway, "revise_off") == [0, 1]


async def test_passes_end_when_revising_runs_out(farm, make_repo, scripted_gateway):
    never_fixed = {"text": "I could not fix it."}
    scripted_gateway.add_scenario(
        {"name": "revise_gives_up", "turns": [WRONG, {"text": "Wrote it."}, never_fixed, never_fixed]}
    )
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)

    done = await run_job(farm, repo, "revise_gives_up", auto_revise=2)

    assert done["job_status"] == "completed", done
    assert done["checks"] == ["tests: failed"]
    assert [p["checks"] for p in done["passes"]] == [["tests: failed"]] * 3
    assert [p["pass"] for p in done["passes"]] == [1, 2, 3]
    assert done["changed_files"] == ["src/app.py"]


async def test_cancel_during_a_revise_pass_stops_the_job(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(revise_scenario("revise_cancel", fix_faults=[{"stall_ms": 30000}]))
    repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)
    async with connect_mcp(farm) as client:
        started = await call_ok(
            client,
            "start",
            {
                "prompt": "Fix. [[scenario:revise_cancel]]",
                "repo": str(repo),
                "checks": [CHECK],
                "auto_revise": 1,
            },
        )
        job_id = started["job_id"]
        assert await logged(client, job_id, "revise pass 2 of 2"), "the job should reach its revise pass"
        time.sleep(1.0)  # let the CLI reach its (stalled) model call
        assert find_job_processes(job_id)
        cancelled_at = time.monotonic()
        await call_ok(client, "cancel", {"job_id": job_id})
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 10000})
        took = time.monotonic() - cancelled_at

    assert done["job_status"] == "cancelled"
    assert took < 3.0, f"cancel took {took:.2f} s"
    assert find_job_processes(job_id) == []


async def test_last_pass_escalates_to_the_worker_escalate_model(
    farm, make_repo, scripted_gateway, start_adapter, tmp_path
):
    # A dedicated adapter maps the escalation model to a backend name the gateway records.
    adapter = start_adapter(
        scripted_gateway.url, ADAPTER_MODEL_MAP=json.dumps({"farm-escalated": "scripted-escalated"})
    )
    queue = "esc" + secrets.token_hex(3)
    env = {
        **farm.env,
        "FARM_QUEUE": queue,
        "ADAPTER_URL": adapter.url,
        "ADAPTER_TOKEN": adapter.token,
        "WORKER_CACHE_DIR": str(tmp_path / "cache"),
        "WORKER_ESCALATE_MODEL": "farm-escalated-model",
    }
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        scripted_gateway.add_scenario(revise_scenario("revise_escalate"))
        # Claude Code tries a model with a short request of its own before switching to it.
        scripted_gateway.add_scenario({"name": "model_probe", "turns": [{"text": "ok"}] * 5})
        scripted_gateway.configure(default_scenario="model_probe")
        repo = make_repo({"README.md": "# sample\n"}, parent=farm.sandbox)
        done = await run_job(farm, repo, "revise_escalate", auto_revise=1, queue=queue)
    finally:
        stop_worker(worker)

    assert done["job_status"] == "completed", done
    assert done["checks"] == ["tests: passed"]
    assert [(p["pass"], p["model"], p["checks"]) for p in done["passes"]] == [
        (1, None, ["tests: failed"]),
        (2, "farm-escalated-model", ["tests: passed"]),
    ]
    models = {
        r["turn"]: r["body"]["model"]
        for r in scripted_gateway.requests()
        if r["scenario"] == "revise_escalate" and r["status"] == 200
    }
    assert models[2] == models[3] == "scripted-escalated"
    assert models[0] == models[1] != "scripted-escalated"
    probes = [r for r in scripted_gateway.requests() if r["scenario"] == "model_probe"]
    assert probes and {r["body"]["model"] for r in probes} == {"scripted-escalated"}


async def logged(client, job_id: str, text: str, timeout_s: float = 60.0) -> bool:
    """Whether the job's log shows `text` within the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tail = await call_ok(client, "tail", {"job_id": job_id, "lines": 500})
        if any(text in line for line in tail["lines"]):
            return True
        await anyio.sleep(0.2)
    return False
