"""What a load run must leave true: the load job, the facts read back from Redis and the gateway, and the
invariants over them.

Invariants: no job lost (every one `completed`, its file written), none run twice (one attempt, one
"running on" log line, the scripted gateway asked exactly once per scenario turn), Redis bounded (every
job key expires within FARM_JOB_TTL_S, every log stream within its cap, nothing left queued, unacked
or marked running) and the work spread over every worker process.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePath

import redis

from farm_core.job_models import JobRecord, JobStatus
from farm_core.keys import jobs_index, running_set
from farm_core.store import JobStore
from scripted_gateway.request_text import find_cwd

WRITTEN_FILE = "out.txt"
PRIORITY_SEP = "\x06\x16"  # kombu's separator between a queue's name and its priority step
LOAD_TEXT = "written under load\n"  # what each job's one Write puts in WRITTEN_FILE
RUNNING_LINE = "running on "  # the status line a job logs when a worker starts running it (tasks/pipeline.py)
ACK_POLL_S = 0.05  # how often all_acknowledged looks again


def write_scenario(name: str) -> dict:
    """The load job: one Write, then the final answer (two model turns)."""
    return {
        "name": name,
        "turns": [
            {
                "tool_calls": [
                    {
                        "name": "Write",
                        "arguments": {"file_path": "{cwd}/" + WRITTEN_FILE, "content": LOAD_TEXT},
                    }
                ]
            },
            {"text": f"Wrote {WRITTEN_FILE}."},
        ],
    }


def load_prompts(scenario: str, count: int) -> list[str]:
    """Distinct prompts (so no two jobs are alike to a cache) all playing one scenario."""
    return [f"Job {n}: write {WRITTEN_FILE}. [[scenario:{scenario}]]" for n in range(count)]


# ----------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class JobFacts:
    """A job's record and how many times its log says a worker started running it."""

    record: JobRecord
    running_lines: int


def collect_facts(store: JobStore, job_ids: list[str]) -> dict[str, JobFacts | None]:
    """Each job's facts from Redis; None for a job whose record is gone."""
    facts: dict[str, JobFacts | None] = {}
    for job_id in job_ids:
        record = store.get(job_id)
        log = store.read_log(job_id, None, store.log_max_entries + 1000) if record else []
        runs = sum(1 for entry in log if entry.kind == "status" and entry.text.startswith(RUNNING_LINE))
        facts[job_id] = JobFacts(record, runs) if record else None
    return facts


def gateway_calls_per_job(requests: list[dict], scenario: str) -> Counter:
    """Chat requests the scripted gateway served for scenario, per job id (the agent's cwd ends with it)."""
    calls: Counter = Counter()
    for entry in requests:
        body = entry.get("body")
        if entry.get("scenario") != scenario or not isinstance(body, dict):
            continue
        cwd = find_cwd(body.get("messages") or [])
        calls[PurePath(cwd).name if cwd else "?"] += 1
    return calls


@dataclass
class RedisFootprint:
    """What the run left in Redis under the farm prefix and on the queue."""

    job_keys: int = 0
    job_key_bytes: int = 0
    keys_without_ttl: list[str] = field(default_factory=list)
    keys_outliving_ttl: list[str] = field(default_factory=list)
    longest_log: int = 0
    logs_over_cap: list[str] = field(default_factory=list)
    log_cap_allowed: int = 0
    leases_left: list[str] = field(default_factory=list)
    running_left: int = 0
    queued_left: int = 0
    unacked_left: int = 0
    index_entries: int = 0
    index_bytes: int = 0


def redis_footprint(
    client: redis.Redis, prefix: str, queue: str, job_ttl_s: int, log_cap: int
) -> RedisFootprint:
    """Scan every job key: its TTL, its size, and for log streams their length against the cap."""
    found = RedisFootprint(log_cap_allowed=log_cap + _stream_node_entries(client))
    keys = sorted(client.scan_iter(match=f"{prefix}job:*", count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.ttl(key)
        pipe.type(key)
        pipe.memory_usage(key)
    answers = pipe.execute()
    streams = []
    for key, ttl, kind, size in zip(keys, answers[0::3], answers[1::3], answers[2::3], strict=True):
        name = key.decode()
        found.job_keys += 1
        found.job_key_bytes += size or 0
        if ttl < 0:
            found.keys_without_ttl.append(name)
        elif ttl > job_ttl_s:
            found.keys_outliving_ttl.append(name)
        if kind == b"stream":
            streams.append(key)
    for key, length in zip(streams, _lengths(client, streams), strict=True):
        found.longest_log = max(found.longest_log, length)
        if length > found.log_cap_allowed:
            found.logs_over_cap.append(key.decode())
    found.running_left = client.scard(running_set(prefix))
    found.queued_left = queued_on(client, queue)
    leases = [name for name in map(bytes.decode, keys) if name.endswith(":lease")]
    found.leases_left = [name for name in leases if client.exists(name)]
    found.unacked_left = len(unacked_on(client, queue))
    found.index_entries = client.zcard(jobs_index(prefix))
    found.index_bytes = client.memory_usage(jobs_index(prefix)) or 0
    return found


def queued_on(client: redis.Redis, queue: str) -> int:
    """Messages waiting on queue, over kombu's per-priority lists (`queue`, `queue\\x06\\x163`, ...)."""
    lists = [queue.encode(), *client.scan_iter(match=queue + PRIORITY_SEP + "*")]
    return sum(client.llen(key) for key in lists if client.type(key) == b"list")


def unacked_on(client: redis.Redis, queue: str) -> list[str]:
    """Delivery tags of messages a worker took from queue and has not acknowledged yet (kombu's `unacked`)."""
    tags = []
    for tag, raw in client.hgetall("unacked").items():
        try:
            _, _, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if routing_key == queue:
            tags.append(tag.decode())
    return tags


def _stream_node_entries(client: redis.Redis) -> int:
    # MAXLEN ~ trims whole stream nodes only, so a stream may run this far past its cap.
    try:
        return int(client.config_get("stream-node-max-entries").get("stream-node-max-entries", 100))
    except redis.ResponseError:
        return 100


def _lengths(client: redis.Redis, streams: list[bytes]) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for key in streams:
        pipe.xlen(key)
    return pipe.execute()


def all_acknowledged(client: redis.Redis, queue: str, timeout_s: float) -> bool:
    """Whether every message taken from queue is acknowledged within timeout_s.

    A job's message is acknowledged just after its record turns terminal: the last acks trail the results."""
    deadline = time.monotonic() + timeout_s
    while unacked_on(client, queue):
        if time.monotonic() >= deadline:
            return False
        time.sleep(ACK_POLL_S)
    return True


# ----------------------------------------------------------------------------- invariants


@dataclass(frozen=True)
class Expectations:
    """What every job of the run should show."""

    turns: int
    workers: int
    written_file: str = WRITTEN_FILE


def invariant_failures(
    facts: dict[str, JobFacts | None],
    results: list[dict],
    calls: Counter,
    footprint: RedisFootprint,
    expect: Expectations,
) -> list[str]:
    """One line per broken invariant (with a few example job ids); empty when the run was clean."""
    failures = []
    records = {job_id: f.record for job_id, f in facts.items() if f}

    def fail(what: str, ids: list[str]) -> None:
        if ids:
            failures.append(f"{what}: {len(ids)} ({', '.join(map(str, ids[:5]))})")

    fail("LOST: job records missing", [i for i, f in facts.items() if f is None])
    fail(
        "LOST: jobs not completed",
        [f"{i}={r.status.value}" for i, r in records.items() if r.status != JobStatus.completed],
    )
    fail(
        "LOST: wait results not completed",
        [r["job_id"] for r in results if r.get("job_status") != "completed"],
    )
    fail(
        "LOST: jobs without their file",
        [r["job_id"] for r in results if r.get("changed_files") != [expect.written_file]],
    )
    fail("LOST: ids missing from the wait results", sorted(set(facts) - {r["job_id"] for r in results}))
    fail("TWICE: attempts != 1", [f"{i}={r.attempts}" for i, r in records.items() if r.attempts != 1])
    fail(
        "TWICE: 'running on' lines != 1",
        [f"{i}={f.running_lines}" for i, f in facts.items() if f and f.running_lines != 1],
    )
    fail(
        f"TWICE: gateway calls != {expect.turns}",
        [f"{i}={calls.get(i, 0)}" for i in facts if calls.get(i, 0) != expect.turns],
    )
    fail(
        "TWICE: gateway calls for no job of this run",
        [f"{i}={n}" for i, n in calls.items() if i not in facts],
    )
    fail("REDIS: job keys without a TTL", footprint.keys_without_ttl)
    fail("REDIS: job keys outliving FARM_JOB_TTL_S", footprint.keys_outliving_ttl)
    fail(f"REDIS: log streams longer than {footprint.log_cap_allowed}", footprint.logs_over_cap)
    fail("REDIS: job leases still held", footprint.leases_left)
    fail("REDIS: jobs still marked running", ["running set"] * footprint.running_left)
    fail("REDIS: messages still queued", ["queue"] * footprint.queued_left)
    fail("REDIS: messages taken but never acknowledged", ["unacked"] * footprint.unacked_left)
    per_worker = Counter(r.worker for r in records.values())
    if len(per_worker) != expect.workers:
        ran = ", ".join(f"{worker}={count}" for worker, count in sorted(per_worker.items()))
        failures.append(
            f"SPREAD: worker processes that ran jobs != {expect.workers}: {len(per_worker)} ({ran})"
        )
    return failures
