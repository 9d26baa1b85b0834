"""The load invariants (farm_load/invariants.py) catch each way a run can go wrong: planted faults on a real
redis-server are all reported."""

import json
import secrets
import time
from collections import Counter

from farm_core.job_models import CompactResult, JobSpec, JobStatus, RepoSource
from farm_core.store import JobStore
from farm_load.invariants import (
    Expectations,
    collect_facts,
    invariant_failures,
    redis_footprint,
    unacked_on,
    write_scenario,
)

LOG_CAP = 10


def spec(job_id: str, queue: str) -> JobSpec:
    source = RepoSource(location="/repos/app", origin_host="box")
    return JobSpec(
        job_id=job_id,
        prompt="p",
        source=source,
        snapshot_commit="a" * 40,
        queue=queue,
        timeout_ms=60_000,
        created_at=time.time(),
    )


def run_once(store: JobStore, job_id: str, queue: str, worker: str) -> None:
    """What a worker does to a job that completes: claim it, log that it runs, finish it."""
    store.create(spec(job_id, queue))
    assert store.claim(job_id, worker) == "claimed"
    store.append_log(job_id, "status", f"running on {worker}")
    store.finish(
        job_id,
        JobStatus.completed,
        CompactResult(job_id=job_id, job_status=JobStatus.completed),
        worker=worker,
    )


def completed(job_id: str, files: list[str]) -> dict:
    return {"job_id": job_id, "job_status": "completed", "changed_files": files}


def test_a_clean_run_passes_and_every_planted_fault_is_reported(redis_server):
    client = redis_server.client()
    prefix, queue = f"farm-inv-{secrets.token_hex(3)}:", "inv" + secrets.token_hex(3)
    store = JobStore(client, prefix, ttl_s=3600, log_max_entries=LOG_CAP)
    expect = Expectations(turns=len(write_scenario("s")["turns"]), workers=1)
    tag = "inv-" + secrets.token_hex(4)
    try:
        run_once(store, "good", queue, "w1")
        clean = collect_facts(store, ["good"])
        footprint = redis_footprint(client, prefix, queue, 3600, LOG_CAP)
        assert (
            invariant_failures(clean, [completed("good", ["out.txt"])], Counter(good=2), footprint, expect)
            == []
        )

        # redelivered and run again: two attempts, two "running on" lines
        run_once(store, "twice", queue, "w2")
        store.set_fields("twice", status="queued")
        store.release("twice")
        assert store.claim("twice", "w2") == "claimed"
        store.append_log("twice", "status", "running on w2")
        store.finish("twice", JobStatus.completed, worker="w2")
        store.create(spec("stuck", queue))  # claimed, never finished: still running, lease held
        assert store.claim("stuck", "w1") == "claimed"
        client.set(f"{prefix}job:good:stray", "no ttl")
        for n in range(LOG_CAP + 150):  # past the cap and past one stream node of approximate trimming
            client.xadd(store.keys("good").log, {"ts": "0", "kind": "status", "text": f"line {n}"})
        client.rpush(queue, "a message nobody took")
        client.hset("unacked", tag, json.dumps([{}, "", queue]))

        facts = collect_facts(store, ["good", "twice", "stuck", "gone"])
        footprint = redis_footprint(client, prefix, queue, 3600, LOG_CAP)
        results = [completed("good", ["out.txt"]), completed("twice", [])]
        failures = invariant_failures(facts, results, Counter(good=2, twice=4, stranger=1), footprint, expect)
    finally:
        client.hdel("unacked", tag)
        client.delete(queue, *client.scan_iter(match=f"{prefix}*"))

    # "WHAT: how many (examples)" -> "WHAT"
    reported = {line.split(" (")[0].rsplit(": ", 1)[0] for line in failures}
    assert reported == {
        "LOST: job records missing",
        "LOST: jobs not completed",
        "LOST: jobs without their file",
        "LOST: ids missing from the wait results",
        "TWICE: attempts != 1",
        "TWICE: 'running on' lines != 1",
        "TWICE: gateway calls != 2",
        "TWICE: gateway calls for no job of this run",
        "REDIS: job keys without a TTL",
        "REDIS: log streams longer than 110",
        "REDIS: job leases still held",
        "REDIS: jobs still marked running",
        "REDIS: messages still queued",
        "REDIS: messages taken but never acknowledged",
        "SPREAD: worker processes that ran jobs != 1",
    }, "\n".join(failures)
    assert any("gone" in line for line in failures if line.startswith("LOST: job records missing"))
    assert any("twice=2" in line for line in failures if line.startswith("TWICE: attempts"))
    assert not unacked_on(client, queue)
