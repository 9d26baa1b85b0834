"""Poison messages on a job queue: a real worker acks and dead-letters every message it cannot run, logs one
line for each, stays up and runs the next normal job. Unsigned and signing workers, and a fleet mid-way
through turning signing on (signed messages reaching an old worker, unsigned ones reaching a new one)."""

import json
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import kombu
import pytest
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer

from codex_farm.doctor import check_dead_letters
from farm_core.job_models import SHELL_CHECK, CheckSpec, JobSpec, RepoSource
from farm_core.keys import dead_letter_list
from farm_core.queue import RUN_JOB
from farm_core.redis_client import connect
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from mcp_frontend.snapshot import pin_commit
from tasks.dead_letter import MAX_ENTRIES
from tests.fixtures.farm import start_worker, stop_worker
from tests.fixtures.git_repos import git
from tests.fixtures.planted import REDIS_PASSWORD, plant
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.signing import SigningFiles, make_key_and_cert, make_signing_files
from tests.fixtures.waiting import wait_until

REFUSAL_LOG_LINE = "refused a task message from queue"
NO_WORKFLOW = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
# Known to the workers (their ADAPTER_TOKEN): the excerpt of a message carrying it must mask it.
ADAPTER_TOKEN = plant("poison test adapter token", "poison-adapter-" + secrets.token_hex(8))


@dataclass
class QueueWorker:
    """A real `codex-farm worker` on a queue and key prefix of its own, and what a frontend of its farm
    signs with."""

    process: subprocess.Popen
    env: dict[str, str]
    log_path: Path
    frontend: SigningFiles | None = None

    @property
    def queue(self) -> str:
        return self.env["FARM_QUEUE"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def store(self) -> JobStore:
        return JobStore(connect(self.env["REDIS_URL"]), self.env["FARM_KEY_PREFIX"], 3600, 1000)

    def dead_letters(self) -> list[dict]:
        key = dead_letter_list(self.env["FARM_KEY_PREFIX"])
        return [json.loads(raw) for raw in connect(self.env["REDIS_URL"]).lrange(key, 0, -1)]

    def publish(self, body: bytes, content_type: str, **headers: object) -> None:
        """Write a raw Celery (protocol 2) message onto the worker's queue with kombu, as anyone with Redis
        access could."""
        task_id = uuid.uuid4().hex
        base = {
            "lang": "py",
            "task": RUN_JOB,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timelimit": [None, None],
            "argsrepr": "poison",
            "kwargsrepr": "{}",
        }
        with kombu.Connection(self.env["REDIS_URL"]) as connection:
            exchange = kombu.Exchange(self.queue, "direct")
            connection.Producer().publish(
                body,
                routing_key=self.queue,
                exchange=self.queue,
                headers={**base, **headers},
                content_type=content_type,
                content_encoding="utf-8",
                declare=[kombu.Queue(self.queue, exchange, routing_key=self.queue)],
            )


def worker_env(redis: RedisServer, root: Path, queue: str) -> dict[str, str]:
    for folder in ("sandbox", "cache"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return {
        "REDIS_URL": redis.url,
        "FARM_QUEUE": queue,
        "FARM_KEY_PREFIX": f"farm-test-{queue}:",
        "SANDBOX_ROOT": str(root / "sandbox"),
        "WORKER_CACHE_DIR": str(root / "cache"),
        "ADAPTER_TOKEN": ADAPTER_TOKEN,
        "FARM_HEARTBEAT_S": "0.5",
    }


@pytest.fixture(scope="module")
def unsigned_worker(redis_server: RedisServer, tmp_path_factory) -> Iterator[QueueWorker]:
    """A worker without FARM_SIGNING_*; `frontend` is a signing frontend's identity (the fleet's next
    step)."""
    root = tmp_path_factory.mktemp("poison-unsigned")
    env = worker_env(redis_server, root, "poison" + secrets.token_hex(3))
    frontend = make_signing_files(root / "signing", "frontend")
    worker = QueueWorker(
        start_worker(env, root / "worker.log", concurrency=1), env, root / "worker.log", frontend
    )
    yield worker
    stop_worker(worker.process)


@pytest.fixture(scope="module")
def signing_worker(redis_server: RedisServer, tmp_path_factory) -> Iterator[QueueWorker]:
    """A worker with its own key that trusts only the frontend's certificate (SECURITY.md's layout)."""
    root = tmp_path_factory.mktemp("poison-signing")
    env = worker_env(redis_server, root, "poisonsig" + secrets.token_hex(3))
    own = make_signing_files(root / "signing", "worker", trust_self=False)
    frontend = make_signing_files(root / "signing", "frontend", trusted=[own.cert])
    shutil.copy(frontend.cert, own.store)
    process = start_worker({**env, **own.env()}, root / "worker.log", concurrency=1)
    worker = QueueWorker(process, {**env, **own.env()}, root / "worker.log", frontend)
    yield worker
    stop_worker(worker.process)


def signer(key: Path, cert: Path) -> Callable[[object], bytes]:
    """Celery's own `auth` serializer signing with key: what a signing frontend (or a forger holding key)
    sends."""
    return SecureSerializer(
        PrivateKey(key.read_text()), Certificate(cert.read_text()), FSCertStore(str(cert)), "sha256"
    ).serialize


def shell_job(worker: QueueWorker, repo: Path, command: str) -> JobSpec:
    """A shell job of repo's HEAD on the worker's queue, recorded as queued (as the frontend leaves it),
    not yet sent."""
    job_id = uuid.uuid4().hex
    commit = git(repo, "rev-parse", "HEAD").strip()
    source = RepoSource(
        location=str(repo), origin_host=socket.gethostname(), snapshot_ref=pin_commit(repo, job_id, commit)
    )
    spec = JobSpec(
        job_id=job_id,
        prompt=f"shell: {command}",
        source=source,
        snapshot_commit=commit,
        queue=worker.queue,
        timeout_ms=120_000,
        created_at=time.time(),
        kind="shell",
        checks=[CheckSpec(name=SHELL_CHECK, command=command, timeout_ms=60_000)],
    )
    worker.store().create(spec)
    return spec


def task_body(spec: JobSpec) -> list:
    """Protocol 2's [args, kwargs, embed], as send_job produces it."""
    return [[spec.model_dump(mode="json")], {}, NO_WORKFLOW]


def as_json(body: object) -> bytes:
    return json.dumps(body).encode()


def assert_refused_and_alive(worker: QueueWorker, expected: list[str], before: int) -> list[dict]:
    """Every poison message was acked and dead-lettered with its reason, each logged once; the worker never
    stopped."""
    key_len = lambda: len(worker.dead_letters()) - before  # noqa: E731
    assert wait_until(lambda: key_len() >= len(expected) or worker.process.poll() is not None, timeout=60), (
        worker.log()[-3000:]
    )
    assert worker.process.poll() is None, "the worker stopped:\n" + worker.log()[-3000:]
    assert "Unrecoverable error" not in worker.log()
    letters = worker.dead_letters()[: len(expected)]
    assert Counter(letter["reason"] for letter in letters) == Counter(expected), letters
    assert wait_until(lambda: connect(worker.env["REDIS_URL"]).llen(worker.queue) == 0, timeout=10), (
        "a message is still queued"
    )
    assert worker.log().count(REFUSAL_LOG_LINE) == before + len(expected), worker.log()[-3000:]
    now = time.time()
    for letter in letters:
        assert letter["queue"] == worker.queue and now - 120 < letter["at"] <= now, letter
        assert letter["detail"] and set(letter) == {"reason", "detail", "queue", "at", "task", "excerpt"}, (
            letter
        )
    return letters


def assert_next_job_completes(worker: QueueWorker, make_repo, publish_job: Callable[[JobSpec], None]) -> None:
    spec = shell_job(worker, make_repo(), "echo after-the-poison")
    publish_job(spec)
    store = worker.store()
    assert wait_until(lambda: store.get(spec.job_id).status.value not in ("queued", "running"), timeout=90), (
        worker.log()[-3000:]
    )
    assert store.get(spec.job_id).status.value == "completed", store.get(spec.job_id)
    assert worker.process.poll() is None


def test_poison_messages_on_an_unsigned_worker_are_dead_lettered_and_the_next_job_runs(
    unsigned_worker: QueueWorker, make_repo
):
    worker, frontend = unsigned_worker, unsigned_worker.frontend
    before = len(worker.dead_letters())
    named = shell_job(worker, make_repo(), "echo must-not-run")  # the job the mismatched messages name
    # The attacker's message: raw bytes under Celery's signed content type, carrying secrets the excerpt must
    # mask.
    worker.publish(
        f"raw {REDIS_PASSWORD} {ADAPTER_TOKEN} sk-poison-{secrets.token_hex(6)}".encode(), "application/data"
    )
    worker.publish(b'[[{"job_id": "x"}], {}, {', "application/json")
    worker.publish(as_json(task_body(named)), "application/json", task="celery.backend_cleanup")
    worker.publish(as_json([[], {"payload": 1}, NO_WORKFLOW]), "application/json")
    worker.publish(as_json(task_body(named)), "application/json", id={"not": "a string"})
    # past the screen: Celery's own refusal
    worker.publish(as_json(task_body(named)), "application/json", eta="not a date")
    # A signing frontend's normal message reaching a worker not yet signing (a rolling upgrade).
    worker.publish(signer(frontend.key, frontend.cert)(task_body(named)), "application/data")
    expected = [
        "wrong_content_type",
        "undecodable_body",
        "unknown_task",
        "wrong_arguments",
        "not_a_task_message",
        "not_a_task_message",
        "signed_on_unsigned_worker",
    ]

    letters = assert_refused_and_alive(worker, expected, before)
    raw = next(letter for letter in letters if letter["reason"] == "wrong_content_type")
    assert raw["excerpt"].startswith("raw [REDACTED]") and raw["excerpt"].count("[REDACTED]") == 3, raw
    stored = json.dumps(worker.dead_letters()) + worker.log()
    assert REDIS_PASSWORD not in stored and ADAPTER_TOKEN not in stored
    assert worker.store().get(named.job_id).status.value == "queued", "a refused message ran its job"
    assert_next_job_completes(
        worker, make_repo, lambda spec: worker.publish(as_json(task_body(spec)), "application/json")
    )


def test_poison_messages_on_a_signing_worker_are_dead_lettered_and_the_next_signed_job_runs(
    signing_worker: QueueWorker, make_repo, tmp_path
):
    worker, sign = signing_worker, signer(signing_worker.frontend.key, signing_worker.frontend.cert)
    before = len(worker.dead_letters())
    named = shell_job(worker, make_repo(), "echo must-not-run")
    # An unsigned frontend's normal message reaching a worker that already signs (the other half of a rolling
    # upgrade).
    worker.publish(as_json(task_body(named)), "application/json")
    worker.publish(
        signer(*make_key_and_cert(tmp_path / "intruder", "intruder"))(task_body(named)), "application/data"
    )
    # An impostor: its certificate copies the trusted one's subject and serial, but it signs with another key.
    impostor = make_key_and_cert(tmp_path / "impostor", "impostor", like=worker.frontend.cert)
    worker.publish(signer(*impostor)(task_body(named)), "application/data")
    worker.publish(b"not a signed body", "application/data")
    worker.publish(sign([[named.model_dump(mode="json"), "extra"], {}, NO_WORKFLOW]), "application/data")
    worker.publish(sign(task_body(named)), "application/data", task="codex_farm.no_such_task")
    worker.publish(sign(task_body(named)), "application/x-python-serialize")
    expected = [
        "unsigned_on_signing_worker",
        "bad_signature",
        "bad_signature",
        "bad_signature",
        "wrong_arguments",
        "unknown_task",
        "wrong_content_type",
    ]

    letters = assert_refused_and_alive(worker, expected, before)
    details = " | ".join(letter["detail"] for letter in letters)
    assert "Unknown certificate" in details and "Bad signature" in details, details
    assert worker.store().get(named.job_id).status.value == "queued", "a refused message ran its job"
    assert_next_job_completes(
        worker, make_repo, lambda spec: worker.publish(sign(task_body(spec)), "application/data")
    )


@pytest.mark.parametrize("fleet", ["signing frontend, unsigned worker", "unsigned frontend, signing worker"])
def test_a_job_whose_message_a_mismatched_worker_refused_fails_with_the_fix(
    fleet, unsigned_worker, signing_worker, make_repo
):
    """Acked and dead-lettered, the message can never run its job: the job fails saying why, instead of
    waiting forever."""
    if fleet.startswith("signing"):
        worker, body, reason = (
            unsigned_worker,
            signer(unsigned_worker.frontend.key, unsigned_worker.frontend.cert),
            "signed_on_unsigned_worker",
        )
        content_type, fix, attempt = (
            "application/data",
            "set the frontend's FARM_SIGNING_* on every worker",
            "",
        )
    else:
        worker, body, reason = signing_worker, as_json, "unsigned_on_signing_worker"
        # a retried attempt's task id
        content_type, fix, attempt = (
            "application/json",
            "set FARM_SIGNING_* on the frontend",
            "-2",
        )
    job = shell_job(worker, make_repo(), "echo must-not-run")
    store = worker.store()

    worker.publish(body(task_body(job)), content_type, id=job.job_id + attempt)

    assert wait_until(lambda: store.get(job.job_id).status.value != "queued", timeout=60), worker.log()[
        -3000:
    ]
    record = store.get(job.job_id)
    assert record.status.value == "failed" and reason in record.error and fix in record.error, record
    assert worker.process.poll() is None


def test_doctor_shows_the_dead_letter_count(unsigned_worker: QueueWorker):
    farm = FarmSettings(
        REDIS_URL=unsigned_worker.env["REDIS_URL"], FARM_KEY_PREFIX=unsigned_worker.env["FARM_KEY_PREFIX"]
    )
    before = len(unsigned_worker.dead_letters())
    unsigned_worker.publish(b"doctor's poison", "application/data")
    assert wait_until(lambda: len(unsigned_worker.dead_letters()) == before + 1, timeout=30)

    line = check_dead_letters(farm).line()
    assert line.startswith(f"WARN deadletter   {before + 1} refused message"), line
    assert "wrong_content_type" in line and unsigned_worker.queue in line, line
    clean = check_dead_letters(
        FarmSettings(REDIS_URL=unsigned_worker.env["REDIS_URL"], FARM_KEY_PREFIX="farm-test-clean:")
    ).line()
    assert clean.startswith("OK   deadletter   none"), clean


def test_the_dead_letter_list_stays_capped_under_a_flood(unsigned_worker: QueueWorker):
    """More poison than the list holds: it keeps the newest MAX_ENTRIES, and carries a TTL."""
    client = connect(unsigned_worker.env["REDIS_URL"])
    key = dead_letter_list(unsigned_worker.env["FARM_KEY_PREFIX"])
    flood = MAX_ENTRIES + 20 - client.llen(key)
    with kombu.Connection(unsigned_worker.env["REDIS_URL"]) as connection:
        producer = connection.Producer()
        for n in range(flood):
            producer.publish(
                f"flood {n}".encode(),
                routing_key=unsigned_worker.queue,
                exchange=unsigned_worker.queue,
                headers={"task": RUN_JOB, "id": f"flood-{n}"},
                content_type="application/data",
            )
    assert wait_until(lambda: client.llen(unsigned_worker.queue) == 0, timeout=120), (
        "the worker did not drain the flood"
    )
    assert wait_until(
        lambda: unsigned_worker.dead_letters()[0]["excerpt"] == f"flood {flood - 1}", timeout=30
    )
    assert client.llen(key) == MAX_ENTRIES
    assert 0 < client.ttl(key) <= FarmSettings().job_ttl_s
    assert unsigned_worker.process.poll() is None
