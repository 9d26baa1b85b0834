"""Farm jobs against a gateway that plays DeepSeek's thinking rules: thinking on round-trips its reasoning,
off says so.

Its own adapter (profile deepseek, a model-map entry that turns thinking off) and worker, in front of the
session's scripted gateway switched to the deepseek profile for these tests.
"""

import json
import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.fixtures.adapter import launch_adapter
from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_worker, stop_worker
from tests.fixtures.mcp_calls import call_ok

QUIET_MODEL = "claude-quiet"  # the model-map entry below turns thinking off for it
MODEL_MAP = {"quiet": {"model": "deepseek-v4-flash", "thinking": "off"}}
SCENARIO = {
    "name": "farm_thinking",
    "turns": [
        {
            "reasoning": "Write both files at once.",
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/a.txt", "content": "a\n"}},
                {"name": "Write", "arguments": {"file_path": "{cwd}/b.txt", "content": "b\n"}},
            ],
        },
        {
            "reasoning": "Then check one.",
            "tool_calls": [{"name": "Read", "arguments": {"file_path": "{cwd}/a.txt"}}],
        },
        {"text": "Both files are written."},
    ],
}


@pytest.fixture(scope="module")
def deepseek_farm(farm: Farm, tmp_path_factory) -> Iterator[Farm]:
    logs = tmp_path_factory.mktemp("deepseek-farm")
    adapter = launch_adapter(
        farm.gateway.url, logs, ADAPTER_PROFILE="deepseek", ADAPTER_MODEL_MAP=json.dumps(MODEL_MAP)
    )
    env = farm_env(farm.redis, adapter, farm.sandbox, logs / "cache", queue="ds" + secrets.token_hex(3))
    worker = start_worker(env, logs / "worker.log")
    yield replace(farm, adapter=adapter, worker=worker, env=env, log_dir=logs)
    stop_worker(worker)
    adapter.server.stop()


async def run_job(farm: Farm, repo, **arguments) -> dict:
    async with connect_mcp(farm) as client:
        started = await call_ok(
            client,
            "start",
            {"prompt": "Write a and b. [[scenario:farm_thinking]]", "repo": str(repo), **arguments},
        )
        return await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 90000})


def job_requests(gateway) -> list[dict]:
    return [r for r in gateway.requests() if r["scenario"] == "farm_thinking"]


async def test_a_thinking_job_hands_its_reasoning_back_and_completes(
    deepseek_farm, scripted_gateway, make_repo
):
    scripted_gateway.configure(profile="deepseek")
    scripted_gateway.add_scenario(SCENARIO)
    repo = make_repo({"README.md": "# r\n"}, parent=deepseek_farm.sandbox)

    done = await run_job(deepseek_farm, repo)

    assert done["job_status"] == "completed" and done["verdict"] == "accept", done
    assert sorted(done["changed_files"]) == ["a.txt", "b.txt"]
    requests = job_requests(scripted_gateway)
    assert [r["status"] for r in requests] == [200, 200, 200]
    assert all(r["body"]["thinking"] == {"type": "enabled"} for r in requests)
    last = max(requests, key=lambda r: len(r["body"]["messages"]))["body"]["messages"]
    calls = [m for m in last if m["role"] == "assistant" and m.get("tool_calls")]
    assert [m["reasoning_content"] for m in calls] == ["Write both files at once.", "Then check one."]


async def test_a_job_whose_model_turns_thinking_off_says_so_and_completes(
    deepseek_farm, scripted_gateway, make_repo
):
    scripted_gateway.configure(profile="deepseek")
    scripted_gateway.add_scenario(SCENARIO)
    repo = make_repo({"README.md": "# r\n"}, parent=deepseek_farm.sandbox)

    done = await run_job(deepseek_farm, repo, model=QUIET_MODEL)

    assert done["job_status"] == "completed" and done["verdict"] == "accept", done
    requests = job_requests(scripted_gateway)
    assert requests and all(r["status"] == 200 for r in requests)
    assert all(
        r["body"]["thinking"] == {"type": "disabled"} and "reasoning_effort" not in r["body"]
        for r in requests
    )
    assert all(r["body"]["model"] == "deepseek-v4-flash" for r in requests)
