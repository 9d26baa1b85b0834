"""Job records, logs, patches and cancel flags in Redis: the farm's source of truth.

Every write refreshes the TTL of the key it writes, in the same script or transaction, so a key that
lost its TTL (a Redis restarted without persistence, a key re-created by hand) gets it back with the
next update. Only `create` makes a job record: an update of a record that is gone writes nothing, so
no partial record without a TTL is left behind.
"""

import hashlib
import json
import time
from dataclasses import dataclass

import redis

from farm_core.job_models import CompactResult, JobRecord, JobSpec, JobStatus
from farm_core.keys import JobKeys, jobs_index, running_set
from farm_core.redis_client import RETRIES, connect
from farm_core.settings import FarmSettings

# Fields stored as JSON text in the job hash.
_JSON_FIELDS = ("spec", "result")

# Claim a queued job for a worker, atomically against a concurrent cancel and against another
# worker holding the job's lease (a redelivered copy of a job that still runs elsewhere).
# KEYS: record, cancel, lease, running set. ARGV: worker, now, lease ms, job id, ttl s.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' or redis.call('EXISTS', KEYS[2]) == 1 then return status or '' end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[3]) then return 'leased' end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[1],
           'started_at', ARGV[2], 'heartbeat_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[5])
return 'claimed'
"""
# Renew the lease if this worker holds it (or nobody does) and record the heartbeat. A record that is
# gone (Redis lost it) is not re-created: 0, as for a lost lease, since nobody can see this run any more.
# KEYS: record, lease, running set. ARGV: worker, now, lease ms, ttl s.
_HEARTBEAT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
return 1
"""
# Decide the fate of a running job whose worker went silent: back to the queue while attempts
# remain, else lost. KEYS: record, lease, running set. ARGV: now, grace s, max attempts, job id, ttl s.
_RECONCILE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 'ok' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'ok' end
local beat = tonumber(redis.call('HGET', KEYS[1], 'heartbeat_at') or '0')
if tonumber(ARGV[1]) - beat < tonumber(ARGV[2]) then return 'ok' end
redis.call('SREM', KEYS[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'worker', '')
  return 'requeue'
end
redis.call('HSET', KEYS[1], 'status', 'lost', 'finished_at', ARGV[1])
return 'lost'
"""
# Move a job to a terminal status if its current status is one of ARGV[1] (comma-separated) and,
# when ARGV[2] is not empty, only if that worker still runs it (a superseded copy must not report).
# ARGV[3]: ttl s; then field, value pairs.
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or not string.find(',' .. ARGV[1] .. ',', ',' .. status .. ',', 1, true) then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'worker') ~= ARGV[2] then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
# Set fields of an existing record (never create one) and refresh its TTL. ARGV: ttl s, then field, value
# pairs.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
# Store a result patch (unless ARGV[2] is '0': too large) with its fields on the record, in one step, only
# while the record exists. KEYS: record, patch. ARGV: ttl s, keep, patch, then field, value pairs.
_STORE_PATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1]) else redis.call('DEL', KEYS[2]) end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
# Append a log line; past the cap, drop the oldest line after the head (the first half of the cap), so the
# head (the agent's first turns, a check's first lines) and the tail survive a noisy job. The gap hash
# keeps the head's last entry id and how many lines were dropped after it.
# KEYS: log, gap. ARGV: ttl s, cap, head size, ts, kind, text.
_APPEND_LOG = """
local id = redis.call('XADD', KEYS[1], '*', 'ts', ARGV[4], 'kind', ARGV[5], 'text', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then
  local head_end = redis.call('HGET', KEYS[2], 'head_end')
  if not head_end then
    local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[3])
    head_end = head[#head][1]
    redis.call('HSET', KEYS[2], 'head_end', head_end)
  end
  local dropped = redis.call('XRANGE', KEYS[1], '(' .. head_end, '+', 'COUNT', over)
  for _, entry in ipairs(dropped) do redis.call('XDEL', KEYS[1], entry[1]) end
  redis.call('HINCRBY', KEYS[2], 'dropped', #dropped)
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return id
"""
ACTIVE = "queued,running"
GAP_KIND = "status"


@dataclass(frozen=True)
class LogEntry:
    """One line of a job's log stream."""

    cursor: str
    ts: float
    kind: str
    text: str


class JobStore:
    """Synchronous access to the farm's Redis keys (worker and frontend both use it)."""

    def __init__(
        self, client: redis.Redis, prefix: str, ttl_s: int, log_max_entries: int, lease_s: float = 15.0
    ):
        self.redis = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.log_max_entries = log_max_entries
        self.lease_ms = int(lease_s * 1000)
        self._claim = client.register_script(_CLAIM)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._reconcile = client.register_script(_RECONCILE)
        self._finish = client.register_script(_FINISH)
        self._update = client.register_script(_UPDATE)
        self._store_patch = client.register_script(_STORE_PATCH)
        self._append_log = client.register_script(_APPEND_LOG)

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
        pipe.expire(jobs_index(self.prefix), self.ttl_s)  # it outlives its newest entry's record by nothing
        pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None when unknown, expired, or only a remnant of one (no status: Redis lost
        it)."""
        raw = self.redis.hgetall(self.keys(job_id).record)
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        if not fields.get("status") or not fields.get("job_id"):
            return None
        for name in _JSON_FIELDS:
            if name in fields:
                fields[name] = json.loads(fields[name])
        # empty: the field's default
        return JobRecord.model_validate({k: v for k, v in fields.items() if v != ""})

    def claim(self, job_id: str, worker: str) -> str:
        """Mark a queued job running for this worker and take its lease; returns 'claimed' or what
        prevented it."""
        keys = self.keys(job_id)
        outcome = self._claim(
            keys=[keys.record, keys.cancel, keys.lease, running_set(self.prefix)],
            args=[worker, time.time(), self.lease_ms, job_id, self.ttl_s],
        )
        if outcome == b"claimed":
            self.publish(job_id, JobStatus.running)
        return outcome.decode()

    def heartbeat(self, job_id: str, worker: str) -> bool:
        """Renew this worker's lease and heartbeat; False when another worker holds the lease or the record
        is gone."""
        keys = self.keys(job_id)
        args = [worker, time.time(), self.lease_ms, self.ttl_s]
        return bool(self._heartbeat(keys=[keys.record, keys.lease, running_set(self.prefix)], args=args))

    def reconcile(self, job_id: str, grace_s: float, max_attempts: int) -> str:
        """'requeue' or 'lost' when the job's worker went silent past the grace (the caller acts); else
        'ok'."""
        keys = self.keys(job_id)
        args = [time.time(), grace_s, max_attempts, job_id, self.ttl_s]
        return self._reconcile(keys=[keys.record, keys.lease, running_set(self.prefix)], args=args).decode()

    def running_ids(self) -> list[str]:
        """Ids of jobs marked running anywhere."""
        return sorted(i.decode() for i in self.redis.smembers(running_set(self.prefix)))

    def set_fields(self, job_id: str, **fields: str | int | float) -> bool:
        """Update fields of the job's record and refresh its TTL; False (nothing written) when the record
        is gone."""
        args = [self.ttl_s, *(item for pair in fields.items() for item in pair)]
        return bool(self._update(keys=[self.keys(job_id).record], args=args))

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        result: CompactResult | None = None,
        from_statuses: str = ACTIVE,
        worker: str = "",
        **fields: str,
    ) -> bool:
        """Set a terminal status (only from one of `from_statuses`, only as `worker` if given) and wake
        every waiter.

        The snapshot bundle goes too: no attempt will fetch it again, and it holds the caller's code."""
        values = {"status": status.value, "finished_at": time.time(), **fields}
        if result is not None:
            values["result"] = result.model_dump_json()
        args = [from_statuses, worker, self.ttl_s, *(item for pair in values.items() for item in pair)]
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
        """Append an already-redacted line to the job's capped log stream (head and tail kept); returns its
        cursor."""
        keys = self.keys(job_id)
        args = [
            self.ttl_s,
            self.log_max_entries,
            log_head_size(self.log_max_entries),
            f"{time.time():.3f}",
            kind,
            text,
        ]
        return self._append_log(keys=[keys.log, keys.log_gap], args=args).decode()

    def read_log(self, job_id: str, after: str | None, count: int) -> list[LogEntry]:
        """Up to `count` entries after a cursor, or the last `count` entries when no cursor is given.

        Where the cap dropped lines, one marker entry (kind `status`) says how many, between the head and
        the tail."""
        keys = self.keys(job_id)
        pipe = self.redis.pipeline(transaction=False)  # one round trip
        if after:
            pipe.xrange(keys.log, min=f"({after}", count=count)
        else:
            pipe.xrevrange(keys.log, count=count)
        pipe.hmget(keys.log_gap, "head_end", "dropped")
        raw, (head_end, dropped) = pipe.execute()
        entries = [log_entry(entry_id, fields) for entry_id, fields in (raw if after else reversed(raw))]
        if not head_end or not dropped:
            return entries
        return with_gap_marker(entries, after, head_end.decode(), int(dropped), count)

    def store_patch(self, job_id: str, patch: bytes, keep: bool = True, **fields: str) -> bool:
        """Record the patch's sha256 and `fields` (e.g. result_commit) on the job and, when `keep`, the patch
        itself: one atomic write. False (nothing written) when the record is gone."""
        keys = self.keys(job_id)
        values = {"patch_sha256": patch_sha256(patch), **fields}
        args = [self.ttl_s, "1" if keep else "0", patch, *(item for pair in values.items() for item in pair)]
        return bool(self._store_patch(keys=[keys.record, keys.patch], args=args))

    def load_patch(self, job_id: str) -> bytes | None:
        return self.redis.get(self.keys(job_id).patch)

    def store_bundle(self, job_id: str, bundle: bytes) -> str:
        """Keep the job's snapshot bundle for its whole life (a redelivered job fetches it again); returns
        the key."""
        key = self.keys(job_id).bundle
        self.redis.set(key, bundle, ex=self.ttl_s)
        return key

    def load_bundle(self, job_id: str) -> bytes | None:
        return self.redis.get(self.keys(job_id).bundle)

    def request_cancel(self, job_id: str) -> bool:
        """Flag the job cancelled and tell whichever worker runs it; a queued job ends at once (returns
        True)."""
        keys = self.keys(job_id)
        self.redis.set(keys.cancel, "1", ex=self.ttl_s)
        self.redis.publish(keys.events, "cancel")
        result = CompactResult(job_id=job_id, job_status=JobStatus.cancelled, error="cancelled before start")
        return self.finish(
            job_id, JobStatus.cancelled, result, from_statuses="queued", error="cancelled before start"
        )

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.keys(job_id).cancel))

    def list_ids(self, limit: int) -> list[str]:
        """Newest job ids first."""
        return [i.decode() for i in self.redis.zrevrange(jobs_index(self.prefix), 0, limit - 1)]


def patch_sha256(patch: bytes) -> str:
    """The hex sha256 a job's record keeps of its result patch."""
    return hashlib.sha256(patch).hexdigest()


def log_head_size(cap: int) -> int:
    """How many of a job's first log lines the cap always keeps: half of it (the other half is the tail)."""
    return max(1, cap // 2)


def gap_text(dropped: int) -> str:
    """The marker line standing for the lines the cap dropped between the head and the tail."""
    return f"… {dropped} log lines dropped here (FARM_LOG_MAX_ENTRIES keeps a job's first and last lines)"


def with_gap_marker(
    entries: list[LogEntry], after: str | None, head_end: str, dropped: int, count: int
) -> list[LogEntry]:
    """entries (oldest first) with the gap marker before the first entry past the head, when the read spans
    the gap; cut back to `count` (a forward read keeps its oldest entries and never ends on the marker)."""
    at = _gap_position(entries, after, _stream_id(head_end))
    if at is None:
        return entries[-count:] if after is None else entries[:count]
    marker = LogEntry(cursor=head_end, ts=entries[at].ts, kind=GAP_KIND, text=gap_text(dropped))
    marked = [*entries[:at], marker, *entries[at:]]
    if after is None:
        return marked[-count:]
    if at >= count:
        return entries[:count]
    if at == count - 1:  # a page ending on the marker: the next read (after head_end) shows it instead
        return entries[:at] or entries[:1]
    return marked[:count]


def _gap_position(entries: list[LogEntry], after: str | None, boundary: tuple[int, int]) -> int | None:
    """Index of the first entry past the head when the entry (or cursor) before it is in the head, else
    None."""
    previous = _stream_id(after) if after else None
    for index, entry in enumerate(entries):
        if _stream_id(entry.cursor) > boundary:
            before = _stream_id(entries[index - 1].cursor) if index else previous
            return index if before is not None and before <= boundary else None
    return None


def _stream_id(cursor: str) -> tuple[int, int]:
    ms, _, seq = cursor.partition("-")
    return int(ms), int(seq or 0)


def log_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> LogEntry:
    """One log stream entry as read from Redis (XRANGE, XREAD)."""
    return LogEntry(
        cursor=entry_id.decode(),
        ts=float(fields.get(b"ts", b"0")),
        kind=fields.get(b"kind", b"").decode(),
        text=fields.get(b"text", b"").decode(errors="replace"),
    )


def job_store(settings: FarmSettings, retries: int | None = None) -> JobStore:
    """A JobStore of the farm `settings` name, on a reconnecting Redis client."""
    client = connect(settings.redis_url, RETRIES if retries is None else retries)
    return JobStore(
        client, settings.key_prefix, settings.job_ttl_s, settings.log_max_entries, settings.lease_s
    )
