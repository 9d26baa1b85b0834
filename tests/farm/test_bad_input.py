"""Bad input gets a structured error with a stable code and a hint; nothing is enqueued."""

import pytest

from tests.fixtures.farm import Farm, connect_mcp
from tests.fixtures.mcp_calls import call_error


def jobs_recorded(farm: Farm) -> int:
    return farm.redis.client().zcard(farm.env["FARM_KEY_PREFIX"] + "jobs")


@pytest.fixture
def places(farm: Farm, make_repo, tmp_path):
    """A good repo in the sandbox, a repo outside it, a symlink to the outside, a plain folder."""
    inside = make_repo(parent=farm.sandbox)
    outside = make_repo(parent=tmp_path)
    link = farm.sandbox / f"link-{tmp_path.name}"
    link.symlink_to(outside)
    plain = farm.sandbox / f"plain-{tmp_path.name}"
    plain.mkdir()
    return {
        "inside": str(inside),
        "outside": str(outside),
        "link": str(link),
        "plain": str(plain),
        "dotdot": f"{farm.sandbox}/../{outside.parent.name}/{outside.name}",
    }


BAD_STARTS = [
    ("outside", {}, "repo_outside_sandbox"),
    ("dotdot", {}, "repo_outside_sandbox"),
    ("link", {}, "repo_outside_sandbox"),
    ("plain", {}, "not_a_git_repo"),
    ("inside", {"prompt": "   "}, "invalid_argument"),
    ("inside", {"permission_mode": "bypassPermissions"}, "permission_refused"),
    ("inside", {"permission_mode": "yolo"}, "invalid_argument"),
    ("inside", {"checks": [{"name": "tests"}]}, "invalid_argument"),
    ("inside", {"checks": [{"name": "tests", "command": "true", "timeout_ms": 5}]}, "invalid_argument"),
    ("inside", {"checks": [{"name": "bad;name", "command": "true"}]}, "invalid_argument"),
    ("inside", {"scoped_patch": {"paths": ["../etc"]}}, "invalid_argument"),
    ("inside", {"timeout_ms": 10}, "invalid_argument"),
    ("inside", {"base": "no-such-branch"}, "snapshot_failed"),
]


async def test_bad_start_arguments_are_refused_with_codes(farm, places):
    before = jobs_recorded(farm)
    async with connect_mcp(farm) as client:
        for where, extra, code in BAD_STARTS:
            error = await call_error(client, "start", {"prompt": "do it", "repo": places[where], **extra})
            assert error["code"] == code, (where, extra, error)
            assert error["message"] and error["hint"]
            assert "Traceback" not in error["message"]
        missing = await call_error(client, "start", {"repo": places["inside"]})
        assert missing["code"] == "invalid_argument" and "prompt" in missing["message"]
    assert jobs_recorded(farm) == before


async def test_unknown_job_ids_are_refused_by_every_job_tool(farm):
    async with connect_mcp(farm) as client:
        for tool, extra in (("get", {}), ("tail", {}), ("wait", {"timeout_ms": 10}), ("cancel", {})):
            error = await call_error(client, tool, {"job_id": "0" * 32, **extra})
            assert error["code"] == "unknown_job", tool
        error = await call_error(client, "no_such_tool", {})
        assert error["code"] == "invalid_argument"
