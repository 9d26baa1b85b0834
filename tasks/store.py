"""Job records, logs, patches and cancel flags in Redis: the farm's source of truth."""

import json
import time
from dataclasses import dataclass

import redis

from tasks.job_models import CompactResult, JobRecord, JobSpec, JobStatus
from tasks.keys import JobKeys, jobs_index, running_set

# Fields stored as JSON text in the job hash.
_JSON_FIELDS = ("spec", "result")

# Claim a queued job for a worker, atomically against a concurrent cancel and against another
# worker holding the job's lease (a redelivered copy of a job that still runs elsewhere).
# KEYS: record, cancel, lease, running set. ARGV: worker, now, lease ms, job id.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' or redis.call('EXISTS', KEYS[2]) == 1 then return status or '' end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[3]) then return 'leased' end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[1], 'started_at', ARGV[2], 'heartbeat_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('SADD', KEYS[4], ARGV[4])
return 'claimed'
"""
# Renew the lease if this worker holds it (or nobody does) and record the heartbeat.
# KEYS: record, lease. ARGV: worker, now, lease ms.
_HEARTBEAT = """
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[2])
return 1
"""
# Decide the fate of a running job whose worker went silent: back to the queue while attempts
# remain, else lost. KEYS: record, lease, running set. ARGV: now, grace s, max attempts, job id.
_RECONCILE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 'ok' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'ok' end
local beat = tonumber(redis.call('HGET', KEYS[1], 'heartbeat_at') or '0')
if tonumber(ARGV[1]) - beat < tonumber(ARGV[2]) then return 'ok' end
redis.call('SREM', KEYS[3], ARGV[4])
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'worker', '')
  return 'requeue'
end
redis.call('HSET', KEYS[1], 'status', 'lost', 'finished_at', ARGV[1])
return 'lost'
"""
# Move a job to a terminal status if its current status is one of ARGV[1] (comma-separated) and,
# when ARGV[2] is not empty, only if that worker still runs it (a superseded copy must not report).
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or not string.find(',' .. ARGV[1] .. ',', ',' .. status .. ',', 1, true) then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'worker') ~= ARGV[2] then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
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

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int, log_max_entries: int, lease_s: float = 15.0):
        self.redis = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.log_max_entries = log_max_entries
        self.lease_ms = int(lease_s * 1000)
        self._claim = client.register_script(_CLAIM)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._reconcile = client.register_script(_RECONCILE)
        self._finish = client.register_script(_FINISH)

    def keys(self, job_id: str) -> JobKeys:
        return JobKeys(self.prefix, job_id)

    def create(self, spec: JobSpec) -> None:
        """Record a new queued job and index it by creation time (dropping index entries past the job TTL)."""
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
        # Their records have expired by now; trimming here keeps the index as bounded as the records.
        pipe.zremrangebyscore(jobs_index(self.prefix), "-inf", f"({spec.created_at - self.ttl_s}")
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
        return JobRecord.model_validate({k: v for k, v in fields.items() if v != ""})  # empty: the field's default

    def claim(self, job_id: str, worker: str) -> str:
        """Mark a queued job running for this worker and take its lease; returns 'claimed' or what prevented it."""
        keys = self.keys(job_id)
        outcome = self._claim(
            keys=[keys.record, keys.cancel, keys.lease, running_set(self.prefix)], args=[worker, time.time(), self.lease_ms, job_id]
        )
        if outcome == b"claimed":
            self.publish(job_id, JobStatus.running)
        return outcome.decode()

    def heartbeat(self, job_id: str, worker: str) -> bool:
        """Renew this worker's lease and heartbeat; False when another worker holds the lease."""
        keys = self.keys(job_id)
        return bool(self._heartbeat(keys=[keys.record, keys.lease], args=[worker, time.time(), self.lease_ms]))

    def reconcile(self, job_id: str, grace_s: float, max_attempts: int) -> str:
        """'requeue' or 'lost' when the job's worker went silent past the grace (the caller acts); else 'ok'."""
        keys = self.keys(job_id)
        args = [time.time(), grace_s, max_attempts, job_id]
        return self._reconcile(keys=[keys.record, keys.lease, running_set(self.prefix)], args=args).decode()

    def running_ids(self) -> list[str]:
        """Ids of jobs marked running anywhere."""
        return sorted(i.decode() for i in self.redis.smembers(running_set(self.prefix)))

    def set_fields(self, job_id: str, **fields: str | int | float) -> None:
        self.redis.hset(self.keys(job_id).record, mapping=fields)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        result: CompactResult | None = None,
        from_statuses: str = ACTIVE,
        worker: str = "",
        **fields: str,
    ) -> bool:
        """Set a terminal status (only from one of `from_statuses`, only as `worker` if given) and wake every waiter.

        The snapshot bundle goes too: no attempt will fetch it again, and it holds the caller's code."""
        values = {"status": status.value, "finished_at": time.time(), **fields}
        if result is not None:
            values["result"] = result.model_dump_json()
        args = [from_statuses, worker, *(item for pair in values.items() for item in pair)]
        applied = bool(self._finish(keys=[self.keys(job_id).record], args=args))
        if applied:
            self.release(job_id)
            self.redis.delete(self.keys(job_id).bundle)
            self.publish(job_id, status)
        return applied

    def release(self, job_id: str) -> None:
        """Drop the job's lease and its place in the running set."""
        pipe = self.redis.pipeline()
        pipe.delete(self.keys(job_id).lease)
        pipe.srem(running_set(self.prefix), job_id)
        pipe.execute()

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

    def store_bundle(self, job_id: str, bundle: bytes) -> str:
        """Keep the job's snapshot bundle for its whole life (a redelivered job fetches it again); returns the key."""
        key = self.keys(job_id).bundle
        self.redis.set(key, bundle, ex=self.ttl_s)
        return key

    def load_bundle(self, job_id: str) -> bytes | None:
        return self.redis.get(self.keys(job_id).bundle)

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
