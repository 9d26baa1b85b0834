"""Secrets planted in the prompt, the repo, the environment and check output never leave the worker
unredacted."""

import json

from tests.fixtures.farm import Farm, connect_mcp
from tests.fixtures.leak_scan import every_redis_value
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.planted import GATEWAY_KEY, REDIS_PASSWORD


async def test_planted_secrets_never_appear_in_redis_logs_or_responses(
    farm: Farm, make_repo, scripted_gateway
):
    secrets = [GATEWAY_KEY, farm.adapter.token, REDIS_PASSWORD]
    scripted_gateway.add_scenario(
        {
            "name": "leaky",
            "turns": [
                {"tool_calls": [{"name": "Read", "arguments": {"file_path": "{cwd}/config.env"}}]},
                {"expect": ["API_KEY"], "text": "Read it."},
            ],
        }
    )
    repo = make_repo(
        {"config.env": f"API_KEY={GATEWAY_KEY}\nADAPTER={farm.adapter.token}\n"}, parent=farm.sandbox
    )
    prompt = f"Use key {GATEWAY_KEY} and token {farm.adapter.token} [[scenario:leaky]]"
    check = {"name": "env", "command": 'env; cat config.env; echo "$ADAPTER_TOKEN"'}

    responses = []
    async with connect_mcp(farm, FARM_TOOLS="core,review") as client:  # list_jobs is in review
        started = await call_ok(
            client, "start", {"prompt": prompt, "repo": str(repo), "checks": [check], "include_diff": True}
        )
        responses.append(started)
        responses.append(await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 60000}))
        responses.append(await call_ok(client, "get", {"job_id": started["job_id"], "verbose": True}))
        responses.append(await call_ok(client, "tail", {"job_id": started["job_id"], "lines": 1000}))
        responses.append(await call_ok(client, "list_jobs", {"limit": 5}))

    assert responses[1]["job_status"] == "completed"
    tail_text = "\n".join(responses[3]["lines"])
    assert "ADAPTER=[REDACTED]" in tail_text, "the check output should be in the log, redacted"
    # The model itself does see files the agent reads; what the farm stores and returns must not.
    places = {
        "redis": every_redis_value(farm.redis.client()).decode(errors="replace"),
        "tool responses": json.dumps(responses),
        "worker log": farm.worker_log(),
        "adapter log": farm.adapter.server.log(),
    }
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a planted secret reached the {place}"
