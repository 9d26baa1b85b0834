"""JobStore key logic against fakeredis (with Lua): records, claims, finishes, cancels, logs, TTLs."""

import uuid

import fakeredis
import pytest

from farm_core.job_models import CompactResult, JobRecord, JobSpec, JobStatus, RepoSource
from farm_core.keys import JobKeys, jobs_index
from farm_core.store import JobStore, LogEntry, gap_text, patch_sha256, with_gap_marker

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
        "farm:job:j1",
        "farm:job:j1:log",
        "farm:job:j1:patch",
        "farm:job:j1:cancel",
        "farm:job:j1:events",
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


@pytest.mark.parametrize(
    ("before", "from_statuses", "applied"), [c[1:] for c in FINISH_CASES], ids=[c[0] for c in FINISH_CASES]
)
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
    result = CompactResult(
        job_id="j1",
        job_status=JobStatus.completed,
        changed_files=["a.py"],
        checks=["tests: passed"],
        elapsed_ms=12,
    )
    assert store.finish("j1", JobStatus.completed, result, summary="did it", result_commit="b" * 40)
    record = store.get("j1")
    assert (record.status, record.result, record.summary, record.result_commit) == (
        JobStatus.completed,
        result,
        "did it",
        "b" * 40,
    )


def test_empty_fields_read_back_as_their_defaults(store):
    # An agent that ends without a result text finishes with summary=""; the record must still load.
    store.create(spec())
    store.claim("j1", "w1")
    store.finish(
        "j1", JobStatus.failed, CompactResult(job_id="j1", job_status=JobStatus.failed), summary="", error=""
    )
    store.set_fields("j1", worker="")
    record = store.get("j1")
    assert (record.summary, record.worker, record.error, record.status) == ("", "", None, JobStatus.failed)


def test_request_cancel_on_queued_ends_it_at_once(client, store):
    store.create(spec())
    events = Events(client, store, "j1")
    assert store.request_cancel("j1") is True
    record = store.get("j1")
    assert (record.status, record.error) == (JobStatus.cancelled, "cancelled before start")
    assert record.result == CompactResult(
        job_id="j1", job_status=JobStatus.cancelled, error="cancelled before start"
    )
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
    cursors = [
        store.append_log("j1", kind, text)
        for kind, text in [("status", "one"), ("stdout", "two"), ("stderr", "three")]
    ]
    entries = store.read_log("j1", None, 10)
    assert [(e.cursor, e.kind, e.text) for e in entries] == list(
        zip(cursors, ["status", "stdout", "stderr"], ["one", "two", "three"])
    )
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


def read_everything(store: JobStore, job_id: str, page: int) -> list[LogEntry]:
    """Every entry of the log, paging forward from the start as tail and get_artifact_slice do."""
    seen, cursor = [], "0-0"
    for _ in range(5000):  # bounded: a page ending where the next one starts again would loop forever
        batch = store.read_log(job_id, cursor, page)
        if not batch:
            return seen
        seen += batch
        cursor = batch[-1].cursor
    raise AssertionError("paging never reached the end of the log")


def test_log_cap_keeps_the_head_and_the_tail_with_one_marker_for_the_gap(client, store):
    for i in range(1000):
        store.append_log("j1", "stdout", f"line {i}")

    assert client.xlen(store.keys("j1").log) == LOG_MAX
    half = LOG_MAX // 2
    expected = (
        [f"line {i}" for i in range(half)]
        + [gap_text(1000 - LOG_MAX)]
        + [f"line {i}" for i in range(1000 - half, 1000)]
    )
    for page in (2, 7, half, half + 1, LOG_MAX, 1000):
        assert [e.text for e in read_everything(store, "j1", page)] == expected, page
    # a page of one: no room
    assert [e.text for e in read_everything(store, "j1", 1)] == expected[:half] + expected[half + 1 :]
    # the last lines reach back over the gap: the marker shows where
    latest = store.read_log("j1", None, half + 2)
    assert [e.text for e in latest] == [f"line {half - 1}", gap_text(1000 - LOG_MAX)] + expected[-half:]
    assert [e.text for e in store.read_log("j1", None, 3)] == ["line 997", "line 998", "line 999"]


def test_a_noisy_check_keeps_every_tool_call_and_both_ends_of_its_output(store):
    calls = [store.append_log("j1", "tool_call", f'Write {{"file_path": "src/f{i}.py"}}') for i in range(10)]
    store.append_log("j1", "status", "check tests: running")
    for i in range(2000):
        store.append_log("j1", "check", f"noise {i}")
    store.append_log("j1", "status", "check tests: failed")

    entries = read_everything(store, "j1", 1000)
    assert [e.cursor for e in entries if e.kind == "tool_call"] == calls
    check = [e.text for e in entries if e.kind == "check"]
    assert check[:3] == ["noise 0", "noise 1", "noise 2"] and check[-1] == "noise 1999"
    assert [e.text for e in entries if e.kind == "status"] == [
        "check tests: running",
        gap_text(2012 - LOG_MAX),
        "check tests: failed",
    ]


def test_marker_placement_on_any_page_boundary():
    head = [LogEntry(f"1-{i}", 0.0, "stdout", f"h{i}") for i in range(3)]
    tail = [LogEntry(f"9-{i}", 0.0, "stdout", f"t{i}") for i in range(3)]
    texts = lambda entries: [e.text for e in entries]  # noqa: E731

    assert texts(with_gap_marker(head + tail, "0-0", "1-2", 5, 10)) == [
        "h0",
        "h1",
        "h2",
        gap_text(5),
        "t0",
        "t1",
        "t2",
    ]
    # the marker opens the next page
    assert texts(with_gap_marker(head + tail, "0-0", "1-2", 5, 3)) == [
        "h0",
        "h1",
        "h2",
    ]
    assert texts(with_gap_marker(head[2:] + tail, "1-1", "1-2", 5, 1)) == ["h2"]
    assert texts(with_gap_marker(tail, "1-2", "1-2", 5, 2)) == [gap_text(5), "t0"]
    # a one-line page never is the marker alone
    assert texts(with_gap_marker(tail, "1-2", "1-2", 5, 1)) == ["t0"]
    assert texts(with_gap_marker(tail[1:], "9-0", "1-2", 5, 10)) == ["t1", "t2"]  # read past the gap already
    # the last lines, all after the gap
    assert texts(with_gap_marker(tail, None, "1-2", 5, 3)) == [
        "t0",
        "t1",
        "t2",
    ]


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
    store.create(spec())
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


# Every write refreshes the TTL of what it writes, and no update re-creates a record Redis lost.


def claimed(store: JobStore, job_id: str = "j1") -> JobStore:
    store.create(spec(job_id))
    assert store.claim(job_id, "w1") == "claimed"
    return store


UPDATES = {
    "heartbeat": lambda store: store.heartbeat("j1", "w1"),
    "set_fields": lambda store: store.set_fields("j1", summary="working"),
    "store_patch": lambda store: store.store_patch("j1", b"diff --git a/x b/x\n", result_commit="c" * 40),
    "finish": lambda store: store.finish("j1", JobStatus.completed, worker="w1"),
    "reconcile": lambda store: (
        store.redis.delete(store.keys("j1").lease),
        store.set_fields("j1", heartbeat_at=0),
        store.redis.persist(store.keys("j1").record),
        store.reconcile("j1", 1, 3),
    ),
}


@pytest.mark.parametrize("update", UPDATES.values(), ids=UPDATES.keys())
def test_an_update_gives_a_record_that_lost_its_ttl_its_ttl_back(client, store, update):
    claimed(store)
    client.persist(store.keys("j1").record)  # a key re-created or restored without its TTL
    assert client.ttl(store.keys("j1").record) == -1

    update(store)

    assert TTL_S - 5 <= client.ttl(store.keys("j1").record) <= TTL_S


def test_log_patch_index_and_running_set_carry_ttls(client, store):
    claimed(store)
    store.append_log("j1", "status", "running")
    store.store_patch("j1", b"diff --git a/x b/x\n")
    keys = store.keys("j1")
    for key in (keys.log, keys.patch, keys.record, jobs_index(store.prefix), f"{store.prefix}running"):
        assert TTL_S - 5 <= client.ttl(key) <= TTL_S, key
    client.persist(keys.log)
    store.append_log("j1", "status", "again")
    assert TTL_S - 5 <= client.ttl(keys.log) <= TTL_S
    for i in range(LOG_MAX + 5):
        store.append_log("j1", "stdout", f"line {i}")
    assert TTL_S - 5 <= client.ttl(keys.log_gap) <= TTL_S


def test_after_a_flush_the_running_worker_leaves_no_key_without_a_ttl_and_no_partial_record(client, store):
    claimed(store)
    store.append_log("j1", "status", "running on w1")
    client.flushall()  # what a Redis restart without persistence does under a running job

    assert store.heartbeat("j1", "w1") is False  # the run can no longer report anywhere: the monitor stops it
    assert store.set_fields("j1", result_commit="c" * 40) is False
    assert store.store_patch("j1", b"diff --git a/x b/x\n", result_commit="c" * 40) is False
    store.append_log("j1", "status", "w1 lost the job's lease")
    assert store.finish("j1", JobStatus.completed, worker="w1") is False

    assert store.get("j1") is None and not client.exists(store.keys("j1").record, store.keys("j1").patch)
    assert {key: client.ttl(key) for key in client.keys("*") if client.ttl(key) < 0} == {}


def test_a_remnant_without_status_reads_as_no_record(client, store):
    client.hset(store.keys("j1").record, mapping={"heartbeat_at": 12.5, "result_commit": "c" * 40})
    assert store.get("j1") is None


def test_store_patch_writes_the_patch_its_digest_and_fields_in_one_step(client, store):
    store.create(spec())
    patch = b"diff --git a/x b/x\n\x00binary"
    assert store.store_patch("j1", patch, result_commit="c" * 40, result_signer="CN 1")
    record = store.get("j1")
    assert (record.patch_sha256, record.result_commit, record.result_signer) == (
        patch_sha256(patch),
        "c" * 40,
        "CN 1",
    )
    assert store.load_patch("j1") == patch

    assert store.store_patch("j1", b"too big", keep=False, result_commit="d" * 40)
    # over FARM_PATCH_MAX_BYTES: not stored, an older one not left behind
    assert store.load_patch("j1") is None
    assert store.get("j1").patch_sha256 == patch_sha256(b"too big")
