"""JobStore key logic against fakeredis (with Lua): records, claims, finishes, cancels, logs, TTLs."""

import uuid

import fakeredis
import pytest

from tasks.job_models import CompactResult, JobRecord, JobSpec, JobStatus, RepoSource
from tasks.keys import JobKeys, jobs_index
from tasks.store import JobStore, LogEntry

TTL_S = 3600
LOG_MAX = 50


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def store(client) -> JobStore:
    return JobStore(client, f"t{uuid.uuid4().hex[:8]}:", TTL_S, LOG_MAX)


def spec(job_id: str = "j1", created_at: float = 1_700_000_000.5, queue: str = "gpu") -> JobSpec:
    return JobSpec(
        job_id=job_id,
        prompt="fix it",
        source=RepoSource(location="/repos/app", origin_host="laptop"),
        snapshot_commit="a" * 40,
        queue=queue,
        timeout_ms=60_000,
        created_at=created_at,
    )


class Events:
    """A subscriber to one job's status channel."""

    def __init__(self, client, store: JobStore, job_id: str):
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(store.keys(job_id).events)
        assert self.pubsub.get_message(timeout=1)["type"] == "subscribe"

    def received(self) -> list[bytes]:
        out = []
        while (message := self.pubsub.get_message(timeout=0)) is not None:
            if message["type"] == "message":
                out.append(message["data"])
        return out


def test_fakeredis_runs_lua(client):
    assert client.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "k", "v") == b"OK"


def test_keys_layout():
    keys = JobKeys("farm:", "j1")
    assert (keys.record, keys.log, keys.patch, keys.cancel, keys.events) == (
        "farm:job:j1", "farm:job:j1:log", "farm:job:j1:patch", "farm:job:j1:cancel", "farm:job:j1:events"
    )
    assert jobs_index("farm:") == "farm:jobs"


def test_create_get_round_trip(store):
    s = spec()
    store.create(s)
    record = store.get("j1")
    assert isinstance(record, JobRecord)
    assert record.status is JobStatus.queued
    assert (record.job_id, record.queue, record.attempts, record.worker) == ("j1", "gpu", 0, "")
    assert isinstance(record.attempts, int) and record.created_at == 1_700_000_000.5
    assert record.spec == s
    assert (record.started_at, record.finished_at, record.result, record.error) == (None, None, None, None)


def test_get_unknown_is_none(store):
    assert store.get("nope") is None


def test_claim_from_queued(client, store):
    store.create(spec())
    events = Events(client, store, "j1")
    assert store.claim("j1", "worker-7") == "claimed"
    record = store.get("j1")
    assert (record.status, record.worker, record.attempts) == (JobStatus.running, "worker-7", 1)
    assert isinstance(record.started_at, float) and record.heartbeat_at == record.started_at
    assert events.received() == [b"running"]


@pytest.mark.parametrize(
    ("setup", "outcome"),
    [
        (lambda s: s.claim("j1", "w0"), "running"),
        (lambda s: s.finish("j1", JobStatus.completed), "completed"),
        (lambda s: s.finish("j1", JobStatus.lost), "lost"),
    ],
    ids=["running", "completed", "lost"],
)
def test_claim_only_from_queued(client, store, setup, outcome):
    store.create(spec())
    setup(store)
    before = store.get("j1")
    events = Events(client, store, "j1")
    assert store.claim("j1", "w1") == outcome
    after = store.get("j1")
    assert (after.status, after.worker, after.attempts) == (before.status, before.worker, before.attempts)
    assert events.received() == []


def test_claim_unknown_job(client, store):
    assert store.claim("ghost", "w1") == ""
    assert client.exists(store.keys("ghost").record) == 0


def test_claim_refused_when_cancel_flag_set(store, client):
    store.create(spec())
    client.set(store.keys("j1").cancel, "1")
    assert store.claim("j1", "w1") == "queued"
    assert store.get("j1").status is JobStatus.queued
    assert store.get("j1").attempts == 0


FINISH_CASES = [
    # (id, status before, from_statuses, applied)
    ("running_default", "running", None, True),
    ("queued_default", "queued", None, True),
    ("completed_default", "completed", None, False),
    ("cancelled_default", "cancelled", None, False),
    ("running_from_queued_only", "running", "queued", False),
    ("lost_from_lost", "lost", "lost", True),
    ("running_from_list", "running", "lost,running", True),
    ("prefix_does_not_match", "running", "run,runningx", False),
]


@pytest.mark.parametrize(("before", "from_statuses", "applied"), [c[1:] for c in FINISH_CASES], ids=[c[0] for c in FINISH_CASES])
def test_finish_only_from_allowed_statuses(client, store, before, from_statuses, applied):
    store.create(spec())
    client.hset(store.keys("j1").record, "status", before)
    events = Events(client, store, "j1")
    kwargs = {} if from_statuses is None else {"from_statuses": from_statuses}
    assert store.finish("j1", JobStatus.failed, error="boom", **kwargs) is applied
    record = store.get("j1")
    if applied:
        assert (record.status, record.error) == (JobStatus.failed, "boom")
        assert isinstance(record.finished_at, float)
        assert events.received() == [b"failed"]
    else:
        assert (record.status.value, record.error, record.finished_at) == (before, None, None)
        assert events.received() == []


def test_finish_unknown_job_creates_nothing(client, store):
    assert store.finish("ghost", JobStatus.completed) is False
    assert client.exists(store.keys("ghost").record) == 0


def test_finish_stores_result_and_fields(store):
    store.create(spec())
    store.claim("j1", "w1")
    result = CompactResult(job_id="j1", job_status=JobStatus.completed, changed_files=["a.py"], checks=["tests: passed"], elapsed_ms=12)
    assert store.finish("j1", JobStatus.completed, result, summary="did it", result_commit="b" * 40)
    record = store.get("j1")
    assert (record.status, record.result, record.summary, record.result_commit) == (JobStatus.completed, result, "did it", "b" * 40)


def test_empty_fields_read_back_as_their_defaults(store):
    # An agent that ends without a result text finishes with summary=""; the record must still load.
    store.create(spec())
    store.claim("j1", "w1")
    store.finish("j1", JobStatus.failed, CompactResult(job_id="j1", job_status=JobStatus.failed), summary="", error="")
    store.set_fields("j1", worker="")
    record = store.get("j1")
    assert (record.summary, record.worker, record.error, record.status) == ("", "", None, JobStatus.failed)


def test_request_cancel_on_queued_ends_it_at_once(client, store):
    store.create(spec())
    events = Events(client, store, "j1")
    assert store.request_cancel("j1") is True
    record = store.get("j1")
    assert (record.status, record.error) == (JobStatus.cancelled, "cancelled before start")
    assert record.result == CompactResult(job_id="j1", job_status=JobStatus.cancelled, error="cancelled before start")
    assert store.cancel_requested("j1") is True
    assert events.received() == [b"cancel", b"cancelled"]
    assert store.claim("j1", "w1") == "cancelled"


def test_request_cancel_on_running_leaves_it_to_the_worker(client, store):
    store.create(spec())
    store.claim("j1", "w1")
    events = Events(client, store, "j1")
    assert store.request_cancel("j1") is False
    record = store.get("j1")
    assert (record.status, record.error, record.result) == (JobStatus.running, None, None)
    assert store.cancel_requested("j1") is True
    assert events.received() == [b"cancel"]


def test_request_cancel_on_finished_job_changes_nothing(store):
    store.create(spec())
    store.finish("j1", JobStatus.completed)
    assert store.request_cancel("j1") is False
    assert store.get("j1").status is JobStatus.completed


def test_cancel_not_requested_by_default(store):
    store.create(spec())
    assert store.cancel_requested("j1") is False


def test_append_and_read_log(store):
    cursors = [store.append_log("j1", kind, text) for kind, text in [("status", "one"), ("stdout", "two"), ("stderr", "three")]]
    entries = store.read_log("j1", None, 10)
    assert [(e.cursor, e.kind, e.text) for e in entries] == list(zip(cursors, ["status", "stdout", "stderr"], ["one", "two", "three"]))
    assert all(isinstance(e, LogEntry) and isinstance(e.ts, float) and e.ts > 0 for e in entries)


def test_read_log_without_cursor_gives_the_last_n_oldest_first(store):
    for i in range(10):
        store.append_log("j1", "stdout", f"line {i}")
    assert [e.text for e in store.read_log("j1", None, 3)] == ["line 7", "line 8", "line 9"]


def test_read_log_after_cursor_is_exclusive_and_ordered(store):
    cursors = [store.append_log("j1", "stdout", f"line {i}") for i in range(10)]
    assert [e.text for e in store.read_log("j1", cursors[2], 4)] == ["line 3", "line 4", "line 5", "line 6"]
    assert [e.text for e in store.read_log("j1", cursors[8], 100)] == ["line 9"]
    assert store.read_log("j1", cursors[9], 100) == []


def test_cursor_paging_reads_every_line_once(store):
    for i in range(25):
        store.append_log("j1", "stdout", f"line {i}")
    seen, cursor = [], None
    first = store.read_log("j1", None, 25)
    cursor = first[4].cursor
    seen = [e.text for e in first[:5]]
    for _ in range(10):  # bounded: an inclusive cursor would otherwise loop forever
        batch = store.read_log("j1", cursor, 7)
        if not batch:
            break
        seen += [e.text for e in batch]
        cursor = batch[-1].cursor
    assert seen == [f"line {i}" for i in range(25)]


def test_read_log_of_unknown_job_is_empty(store):
    assert store.read_log("ghost", None, 10) == []


def test_log_text_kept_exactly(store):
    text = "ünïcode ✓ \n two lines \t tab"
    store.append_log("j1", "stdout", text)
    assert store.read_log("j1", None, 1)[0].text == text


def test_log_stream_capped_approximately(client, store):
    for i in range(1000):
        store.append_log("j1", "stdout", f"line {i}")
    length = client.xlen(store.keys("j1").log)
    # MAXLEN ~ trims whole stream nodes (100 entries by default), never below the cap.
    assert LOG_MAX <= length <= LOG_MAX + 100
    assert [e.text for e in store.read_log("j1", None, LOG_MAX)] == [f"line {i}" for i in range(1000 - LOG_MAX, 1000)]


def test_ttls_on_record_log_patch_and_cancel(client, store):
    store.create(spec())
    store.append_log("j1", "status", "queued")
    store.store_patch("j1", b"diff --git a/x b/x\n")
    store.claim("j1", "w1")
    store.request_cancel("j1")
    keys = store.keys("j1")
    for key in (keys.record, keys.log, keys.patch, keys.cancel):
        assert TTL_S - 5 <= client.ttl(key) <= TTL_S, key


def test_ttl_kept_after_claim_and_finish(client, store):
    store.create(spec())
    store.claim("j1", "w1")
    store.set_fields("j1", summary="working")
    store.finish("j1", JobStatus.completed)
    assert TTL_S - 5 <= client.ttl(store.keys("j1").record) <= TTL_S


def test_patch_round_trip(store):
    patch = b"\x00binary\xffpatch"
    store.store_patch("j1", patch)
    assert store.load_patch("j1") == patch
    assert store.load_patch("j2") is None


def test_list_ids_newest_first(store):
    for job_id, created in [("old", 100.0), ("newest", 300.0), ("mid", 200.0)]:
        store.create(spec(job_id, created_at=created))
    assert store.list_ids(10) == ["newest", "mid", "old"]
    assert store.list_ids(2) == ["newest", "mid"]
    assert store.list_ids(1) == ["newest"]


def test_prefixes_isolate_stores(client):
    a, b = JobStore(client, "a:", TTL_S, LOG_MAX), JobStore(client, "b:", TTL_S, LOG_MAX)
    a.create(spec("j1"))
    assert b.get("j1") is None and b.list_ids(10) == []
    assert b.claim("j1", "w") == ""
    assert a.get("j1").status is JobStatus.queued


def test_set_fields(store):
    store.create(spec())
    store.set_fields("j1", result_commit="c" * 40, heartbeat_at=12.5)
    record = store.get("j1")
    assert (record.result_commit, record.heartbeat_at, record.status) == ("c" * 40, 12.5, JobStatus.queued)


def test_job_index_drops_entries_older_than_the_job_ttl(client):
    store = JobStore(client, "farm:", 100, LOG_MAX)
    store.create(spec("old", created_at=1_000.0))
    store.create(spec("edge", created_at=1_050.0))
    store.create(spec("new", created_at=1_150.0))  # "old" is now past the TTL; "edge" is exactly at it

    assert store.list_ids(10) == ["new", "edge"]


def test_finishing_a_job_deletes_its_snapshot_bundle(store):
    store.create(spec("b1"))
    key = store.store_bundle("b1", b"# v2 git bundle\n")
    store.claim("b1", "w1")
    assert store.load_bundle("b1") is not None  # a redelivered attempt could still need it

    assert store.finish("b1", JobStatus.completed, worker="w1")
    assert store.load_bundle("b1") is None and not store.redis.exists(key)
