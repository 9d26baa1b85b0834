"""A job's queue and timeout follow one set of rules whatever tool queues it: start and shell refuse alike."""

import pytest
from mcp import Client

from farm_core.settings import FarmSettings
from mcp_frontend.errors import InvalidArgument
from mcp_frontend.job_rules import job_queue, job_timeout
from mcp_frontend.server import build_server
from tests.fixtures.mcp_calls import call_error

FARM = FarmSettings(default_queue="gpu,cpu", max_timeout_ms=60_000)


def test_no_queue_asked_is_the_first_of_farm_queue_and_a_queue_name_is_kept():
    assert job_queue(None, FARM) == "gpu"
    assert job_queue("big.pool:2", FARM) == "big.pool:2"


@pytest.mark.parametrize("queue", ["", "a b", "-lead", "x" * 129])
def test_a_queue_that_is_no_queue_name_is_refused(queue):
    with pytest.raises(InvalidArgument) as refused:
        job_queue(queue, FARM)
    assert refused.value.message == f"queue {queue[:80]!r} is not a queue name"


def test_a_timeout_from_a_second_to_farm_max_timeout_ms_is_kept():
    assert [job_timeout(timeout_ms, FARM) for timeout_ms in (1000, 60_000)] == [1000, 60_000]


@pytest.mark.parametrize("timeout_ms", [0, 999, 60_001])
def test_a_timeout_outside_is_refused(timeout_ms):
    with pytest.raises(InvalidArgument) as refused:
        job_timeout(timeout_ms, FARM)
    assert refused.value.message == "timeout_ms must be between 1000 and FARM_MAX_TIMEOUT_MS (60000)"


@pytest.mark.parametrize("bad", [{"queue": "a b"}, {"timeout_ms": 999}, {"timeout_ms": 10**12}])
async def test_start_and_shell_refuse_a_bad_queue_or_timeout_with_one_error(recording, make_repo, bad):
    repo = make_repo(parent=recording.sandbox)
    async with Client(build_server(recording.service)) as client:
        from_start = await call_error(client, "start", {"prompt": "fix it", "repo": str(repo), **bad})
        from_shell = await call_error(client, "shell", {"command": "true", "repo": str(repo), **bad})
    assert from_start == from_shell and from_start["code"] == "invalid_argument"
    assert recording.sent == [] and recording.recorded() == 0
