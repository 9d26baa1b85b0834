"""The service's job views: `get`, `wait` (one job or several) and `list_jobs` give the same verdict for a
job.

The service runs against the session's real Redis with Celery's hand-off replaced by a list, so nothing
reaches a worker."""

import asyncio
import json
import time
import uuid

import pytest
from mcp import Client

from farm_core.job_models import (
    SHELL_CHECK,
    CheckSpec,
    CompactResult,
    JobRecord,
    JobSpec,
    JobStatus,
    RepoSource,
)
from farm_core.refs import SNAPSHOT_REF_PREFIX
from farm_core.settings import FarmSettings
from farm_core.shell_digest import shell_digest
from mcp_frontend import service as service_module
from mcp_frontend.errors import VANISHED_HINT, UnknownJob
from mcp_frontend.server import build_server
from mcp_frontend.service import FarmService, job_view
from mcp_frontend.settings import FrontendSettings
from tasks.checks import CheckOutcome
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error


@pytest.fixture
def service(tmp_path, redis_server, monkeypatch) -> FarmService:
    monkeypatch.setattr(service_module, "send_job", lambda spec: None)
    frontend = FrontendSettings(sandbox_root=tmp_path, wait_default_ms=5_000, wait_max_ms=20_000)
    settings = FarmSettings(
        redis_url=redis_server.url, key_prefix=f"views-{uuid.uuid4().hex[:8]}:", transport="path"
    )
    return FarmService(frontend, settings)


def recorded(service: FarmService, **spec_fields) -> str:
    """A job as the frontend records it (queued), without its snapshot."""
    job_id = uuid.uuid4().hex
    source = RepoSource(location="/repos/app", origin_host="laptop")
    fields = {"prompt": "p", **spec_fields}
    spec = JobSpec(
        job_id=job_id,
        source=source,
        snapshot_commit="a" * 40,
        timeout_ms=60_000,
        created_at=time.time(),
        **fields,
    )
    service.store.create(spec)
    return job_id


def finished(
    service: FarmService, status: JobStatus, spec_fields: dict | None = None, **result_fields
) -> str:
    """A job a worker ran and ended with this status and result."""
    job_id = recorded(service, **(spec_fields or {}))
    service.store.claim(job_id, "w1")
    assert service.store.finish(
        job_id, status, CompactResult(job_id=job_id, job_status=status, **result_fields)
    )
    return job_id


def shell_finished(service: FarmService, check_status: str, exit_code: int | None) -> str:
    outcome = CheckOutcome(
        name=SHELL_CHECK, status=check_status, exit_code=exit_code, duration_ms=5, output="", pgid=1
    )
    status = JobStatus.completed if check_status in ("passed", "failed") else JobStatus.timed_out
    shell_spec = {"kind": "shell", "prompt": "", "checks": [CheckSpec(name=SHELL_CHECK, command="pytest")]}
    return finished(
        service, status, checks=[outcome.verdict()], shell=shell_digest(outcome), spec_fields=shell_spec
    )


def test_a_running_job_has_no_verdict_and_an_ended_one_keeps_its_own():
    running = JobRecord(
        job_id="j", status=JobStatus.running, queue="q", created_at=1.0, started_at=time.time()
    )
    result = CompactResult(
        job_id="j", job_status=JobStatus.completed, verdict="repair", checks=["tests: failed"]
    )
    completed = running.model_copy(update={"status": JobStatus.completed, "result": result})
    never_enqueued = running.model_copy(
        update={"status": JobStatus.failed, "error": "enqueue failed: ConnectionError"}
    )

    assert "verdict" not in job_view(running, verbose=False).model_dump(mode="json")
    assert job_view(completed, verbose=False).model_dump(mode="json")["verdict"] == "repair"
    assert job_view(never_enqueued, verbose=False).model_dump(mode="json")["verdict"] == "fail"


async def test_get_wait_and_list_jobs_agree_on_every_verdict(service):
    jobs = {
        "accept": finished(
            service,
            JobStatus.completed,
            checks=["scoped_patch: passed (src)", "tests: passed"],
            verdict="accept",
        ),
        "repair": finished(service, JobStatus.completed, checks=["tests: failed"], verdict="repair"),
        "fail": finished(service, JobStatus.failed, error="agent failed"),
        "shell accept": shell_finished(service, "passed", 0),
        "shell repair": shell_finished(service, "failed", 1),
        "shell fail": shell_finished(service, "timed out", None),
    }
    running = recorded(service)
    service.store.claim(running, "w1")

    rows = {row["job_id"]: row for row in service.list_jobs(None, 20).model_dump(mode="json")["jobs"]}
    waited = (await service.wait_many([*jobs.values(), running], "all", 0)).model_dump(mode="json")

    for expected, job_id in jobs.items():
        verdict = expected.split()[-1]
        assert service.get(job_id).model_dump(mode="json")["verdict"] == verdict, expected
        assert (await service.wait(job_id, 0)).model_dump(mode="json")["verdict"] == verdict, expected
        assert rows[job_id]["verdict"] == verdict, expected
    assert [job.get("verdict") for job in waited["jobs"]] == [name.split()[-1] for name in jobs] + [None]
    assert "verdict" not in service.get(running).model_dump(mode="json")
    assert "verdict" not in rows[running]
    assert rows[jobs["shell repair"]]["kind"] == "shell"


async def test_a_job_stored_before_verdicts_gets_one_on_read(service):
    job_id = finished(service, JobStatus.completed, checks=["tests: failed"])
    old_result = json.loads(service.store.redis.hget(service.store.keys(job_id).record, "result"))
    del old_result["verdict"]
    service.store.set_fields(job_id, result=json.dumps(old_result))

    assert service.get(job_id).verdict == "repair"
    assert service.list_jobs(None, 5).jobs[0].verdict == "repair"


@pytest.mark.parametrize(
    "arguments, where",
    [
        ({"prompt": "fix it \ud800"}, "prompt"),
        ({"model": "m\udfff"}, "model"),
        ({"scoped_patch": {"paths": ["src", "\ud800"]}}, "scoped_patch.paths.1"),
    ],
    ids=["prompt", "model", "scoped_path"],
)
async def test_text_no_store_can_hold_is_refused_before_any_snapshot(recording, make_repo, arguments, where):
    repo = make_repo(parent=recording.sandbox)
    async with Client(build_server(recording.service)) as client:
        error = await call_error(client, "start", {"prompt": "fix it", "repo": str(repo), **arguments})
    assert error["code"] == "invalid_argument" and error["message"] == f"{where} holds an unpaired surrogate"
    assert recording.sent == [] and recording.service.store.list_ids(10) == []
    assert git(repo, "for-each-ref", SNAPSHOT_REF_PREFIX) == ""


async def test_a_start_the_broker_refuses_leaves_no_snapshot_ref(recording, make_repo, monkeypatch):
    def refuse(spec):
        raise ConnectionError("broker down")

    monkeypatch.setattr(service_module, "send_job", refuse)
    repo = make_repo(parent=recording.sandbox)
    async with Client(build_server(recording.service)) as client:
        error = await call_error(client, "start", {"matrix": ["one", "two"], "repo": str(repo)})
    assert error["code"] == "broker_unavailable"
    assert git(repo, "for-each-ref", SNAPSHOT_REF_PREFIX) == ""


def forget(service: FarmService, job_id: str, keep: tuple[str, ...] = ()) -> None:
    """What a Redis restarted without persistence does to a job: its keys are gone (but those named in
    keep)."""
    keys = service.store.keys(job_id)
    service.store.redis.delete(
        *(getattr(keys, name) for name in ("record", "log", "patch", "lease", "cancel") if name not in keep)
    )


async def until_subscribed(service: FarmService, job_id: str) -> None:
    channel = service.store.keys(job_id).events
    for _ in range(200):
        if service.store.redis.pubsub_numsub(channel)[0][1]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the wait never subscribed to the job's status channel")


async def test_a_wait_whose_job_vanishes_is_unknown_job_saying_redis_lost_it(service):
    job_id = recorded(service)
    service.store.claim(job_id, "w1")
    async with Client(build_server(service)) as client:
        waiting = asyncio.create_task(call_error(client, "wait", {"job_id": job_id, "timeout_ms": 15_000}))
        await until_subscribed(service, job_id)
        forget(service, job_id)
        service.store.publish(job_id, JobStatus.running)  # any wake-up makes the wait read the record again
        error = await asyncio.wait_for(waiting, timeout=10)

    assert error == {
        "code": "unknown_job",
        "message": f"job {job_id!r} vanished from Redis while waiting for it",
        "hint": VANISHED_HINT,
    }


def test_get_and_tail_of_a_job_whose_record_went_but_whose_log_lives_on_say_redis_lost_it(service):
    job_id = recorded(service)
    service.store.append_log(job_id, "status", "running on w1")
    forget(service, job_id, keep=("log",))  # a worker went on logging after a Redis restart emptied it

    for call in (lambda: service.get(job_id), lambda: service.tail(job_id, 10, None)):
        with pytest.raises(UnknownJob) as unknown:
            call()
        assert unknown.value.hint == VANISHED_HINT and "no record in Redis any more" in unknown.value.message
    with pytest.raises(UnknownJob) as never:
        service.get(uuid.uuid4().hex)
    assert never.value.hint == UnknownJob.hint  # a job id nobody ever had: the usual hint
