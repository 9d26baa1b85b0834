"""Token accounting: what `get` reports equals what the gateway counted for the job."""

from tests.fixtures.farm import connect_mcp
from tests.fixtures.mcp_calls import call_ok


async def test_job_usage_equals_the_gateway_totals(farm, make_repo, scripted_gateway):
    turns = [
        {
            "tool_calls": [{"name": "Write", "arguments": {"file_path": "{cwd}/a.txt", "content": "a\n"}}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "cached_tokens": 1000},
        },
        {
            "text": "Done.",
            "usage": {"prompt_tokens": 1500, "completion_tokens": 7, "cached_tokens": 1100},
            "cache_style": "deepseek",
        },
    ]
    scripted_gateway.add_scenario({"name": "metered", "turns": turns})
    repo = make_repo(parent=farm.sandbox)
    async with connect_mcp(farm) as client:
        started = await call_ok(client, "start", {"prompt": "[[scenario:metered]]", "repo": str(repo)})
        done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 60000})

    counted = scripted_gateway.usage()["per_scenario"]["metered"]
    assert done["job_status"] == "completed"
    assert done["usage"] == {
        "input_tokens": counted["prompt_tokens"],
        "output_tokens": counted["completion_tokens"],
        "cached_tokens": counted["cached_tokens"],
    }
    assert counted["prompt_tokens"] == 2700 and counted["cached_tokens"] == 2100
