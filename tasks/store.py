"""Job records, logs, patches and cancel flags in Redis: the farm's source of truth."""

import json
import time
from dataclasses import dataclass

import redis

from tasks.job_models import CompactResult, JobRecord, JobSpec, JobStatus
from tasks.keys import JobKeys, jobs_index

# Fields stored as JSON text in the job hash.
_JSON_FIELDS = ("spec", "result")

# Claim a queued job for a worker, atomically against a concurrent cancel.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' or redis.call('EXISTS', KEYS[2]) == 1 then return status or '' end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[1], 'started_at', ARGV[2], 'heartbeat_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return 'claimed'
"""
# Move a job to a terminal status if its current status is one of ARGV[1] (comma-separated).
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or not string.find(',' .. ARGV[1] .. ',', ',' .. status .. ',', 1, true) then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
ACTIVE = "queued,running"


@dataclass(frozen=True)
class LogEntry:
    """One line of a job's log stream."""

    cursor: str
    ts: float
    kind: str
    text: str


class JobStore:
    """Synchronous access to the farm's Redis keys (worker and frontend both use it)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int, log_max_entries: int):
        self.redis = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.log_max_entries = log_max_entries
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)

    def keys(self, job_id: str) -> JobKeys:
        return JobKeys(self.prefix, job_id)

    def create(self, spec: JobSpec) -> None:
        """Record a new queued job and index it by creation time."""
        keys = self.keys(spec.job_id)
        pipe = self.redis.pipeline()
        pipe.hset(
            keys.record,
            mapping={
                "job_id": spec.job_id,
                "status": JobStatus.queued.value,
                "queue": spec.queue,
                "attempts": 0,
                "created_at": spec.created_at,
                "spec": spec.model_dump_json(),
            },
        )
        pipe.expire(keys.record, self.ttl_s)
        pipe.zadd(jobs_index(self.prefix), {spec.job_id: spec.created_at})
        pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None when unknown (or expired)."""
        raw = self.redis.hgetall(self.keys(job_id).record)
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        for name in _JSON_FIELDS:
            if name in fields:
                fields[name] = json.loads(fields[name])
        return JobRecord.model_validate({k: (None if v == "" else v) for k, v in fields.items()})

    def claim(self, job_id: str, worker: str) -> str:
        """Mark a queued job running for this worker; returns 'claimed' or the status that prevented it."""
        outcome = self._claim(keys=[self.keys(job_id).record, self.keys(job_id).cancel], args=[worker, time.time()])
        if outcome == b"claimed":
            self.publish(job_id, JobStatus.running)
        return outcome.decode()

    def heartbeat(self, job_id: str) -> None:
        self.redis.hset(self.keys(job_id).record, "heartbeat_at", time.time())

    def set_fields(self, job_id: str, **fields: str | int | float) -> None:
        self.redis.hset(self.keys(job_id).record, mapping=fields)

    def finish(
        self, job_id: str, status: JobStatus, result: CompactResult | None = None, from_statuses: str = ACTIVE, **fields: str
    ) -> bool:
        """Set a terminal status (only from one of `from_statuses`) and wake every waiter."""
        values = {"status": status.value, "finished_at": time.time(), **fields}
        if result is not None:
            values["result"] = result.model_dump_json()
        args = [from_statuses, *(item for pair in values.items() for item in pair)]
        applied = bool(self._finish(keys=[self.keys(job_id).record], args=args))
        if applied:
            self.publish(job_id, status)
        return applied

    def publish(self, job_id: str, status: JobStatus) -> None:
        self.redis.publish(self.keys(job_id).events, status.value)

    def append_log(self, job_id: str, kind: str, text: str) -> str:
        """Append an already-redacted line to the job's capped log stream; returns its cursor."""
        keys = self.keys(job_id)
        pipe = self.redis.pipeline()
        pipe.xadd(keys.log, {"ts": f"{time.time():.3f}", "kind": kind, "text": text}, maxlen=self.log_max_entries, approximate=True)
        pipe.expire(keys.log, self.ttl_s)
        entry_id, _ = pipe.execute()
        return entry_id.decode()

    def read_log(self, job_id: str, after: str | None, count: int) -> list[LogEntry]:
        """Up to `count` entries after a cursor, or the last `count` entries when no cursor is given."""
        key = self.keys(job_id).log
        if after:
            raw = self.redis.xrange(key, min=f"({after}", count=count)
        else:
            raw = list(reversed(self.redis.xrevrange(key, count=count)))
        return [_log_entry(entry_id, fields) for entry_id, fields in raw]

    def store_patch(self, job_id: str, patch: bytes) -> None:
        self.redis.set(self.keys(job_id).patch, patch, ex=self.ttl_s)

    def load_patch(self, job_id: str) -> bytes | None:
        return self.redis.get(self.keys(job_id).patch)

    def request_cancel(self, job_id: str) -> bool:
        """Flag the job cancelled and tell whichever worker runs it; a queued job ends at once (returns True)."""
        keys = self.keys(job_id)
        self.redis.set(keys.cancel, "1", ex=self.ttl_s)
        self.redis.publish(keys.events, "cancel")
        result = CompactResult(job_id=job_id, job_status=JobStatus.cancelled, error="cancelled before start")
        return self.finish(job_id, JobStatus.cancelled, result, from_statuses="queued", error="cancelled before start")

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.keys(job_id).cancel))

    def list_ids(self, limit: int) -> list[str]:
        """Newest job ids first."""
        return [i.decode() for i in self.redis.zrevrange(jobs_index(self.prefix), 0, limit - 1)]


def _log_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> LogEntry:
    return LogEntry(
        cursor=entry_id.decode(),
        ts=float(fields.get(b"ts", b"0")),
        kind=fields.get(b"kind", b"").decode(),
        text=fields.get(b"text", b"").decode(errors="replace"),
    )
