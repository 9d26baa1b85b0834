"""Message signing on a real farm: signed jobs run; a job message written straight into Redis without
a trusted signature is refused by the worker and its job never starts; bad signing files stop the worker."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kombu
import pytest
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer

from farm_core.job_models import JobSpec, RepoSource
from farm_core.keys import running_set
from farm_core.queue import RUN_JOB
from farm_core.redis_client import connect
from farm_core.store import JobStore
from mcp_frontend.snapshot import pin_commit
from scripted_gateway import GatewayHandle
from tests.fixtures.adapter import launch_adapter
from tests.fixtures.farm import Farm, connect_mcp, farm_env, start_worker, stop_worker
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.signing import SigningFiles, make_key_and_cert, make_signing_files
from tests.fixtures.waiting import wait_until

DONE_SCENARIO = {
    "name": "signed_job",
    "turns": [
        {
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/signed.txt", "content": "signed\n"}}
            ]
        },
        {"text": "Wrote it."},
    ],
}
FORGED_SCENARIO = {"name": "forged_job", "turns": [{"text": "Nothing to change."}]}
# What the worker logs when it drops a message: an untrusted content type, or a signature it cannot verify.
REFUSED_UNSIGNED = "Refusing to deserialize untrusted content of type json"
REFUSED_SIGNATURE = "Can't decode message body"


@dataclass
class SignedFarm:
    """A farm whose `env` signs as the frontend, and the worker's own signing files."""

    farm: Farm
    worker_signing: SigningFiles


@pytest.fixture(scope="module")
def signed_farm(
    redis_server: RedisServer, scripted_gateway_server: GatewayHandle, tmp_path_factory
) -> Iterator[SignedFarm]:
    """A farm whose frontend and worker sign and verify messages (its own queue and key prefix); `env` is
    the frontend's.

    The layout SECURITY.md recommends: the worker has its own key, and trusts the frontend's certificate only,
    so a job signed with a worker's key (readable by its agents) is refused like any forgery."""
    root = tmp_path_factory.mktemp("signed-farm")
    sandbox, cache, logs = root / "sandbox", root / "cache", root / "logs"
    for folder in (sandbox, cache, logs):
        folder.mkdir()
    worker_signing = make_signing_files(root / "signing", "worker", trust_self=False)
    frontend_signing = make_signing_files(root / "signing", "frontend", trusted=[worker_signing.cert])
    shutil.copy(frontend_signing.cert, worker_signing.store)  # the worker trusts the frontend only
    adapter = launch_adapter(scripted_gateway_server.url, logs)
    env = farm_env(redis_server, adapter, sandbox, cache, queue="signed" + secrets.token_hex(3))
    worker = start_worker({**env, **worker_signing.env()}, logs / "worker.log")
    farm = Farm(
        redis_server,
        scripted_gateway_server,
        adapter,
        worker,
        sandbox,
        {**env, **frontend_signing.env()},
        logs,
    )
    yield SignedFarm(farm, worker_signing)
    stop_worker(worker)
    adapter.server.stop()


def queued_spec(farm: Farm, repo: Path, prompt: str) -> JobSpec:
    """A valid job of repo's HEAD on the farm's queue, recorded as queued (as `start` leaves it), not
    enqueued."""
    job_id = uuid.uuid4().hex
    commit = git(repo, "rev-parse", "HEAD").strip()
    source = RepoSource(
        location=str(repo), origin_host=socket.gethostname(), snapshot_ref=pin_commit(repo, job_id, commit)
    )
    spec = JobSpec(
        job_id=job_id,
        prompt=prompt,
        source=source,
        snapshot_commit=commit,
        queue=farm.env["FARM_QUEUE"],
        timeout_ms=120_000,
        created_at=time.time(),
    )
    farm_store(farm).create(spec)
    return spec


def farm_store(farm: Farm) -> JobStore:
    return JobStore(connect(farm.redis.url), farm.env["FARM_KEY_PREFIX"], 3600, 1000)


def publish_raw(
    farm: Farm, spec: JobSpec, body: bytes, content_type: str, content_encoding: str = "utf-8"
) -> None:
    """Write a Celery (protocol 2) task message for spec into the job queue with kombu, as anyone with
    Redis access could."""
    headers = {
        "lang": "py",
        "task": RUN_JOB,
        "id": spec.job_id,
        "root_id": spec.job_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "timelimit": [None, None],
        "argsrepr": "forged",
        "kwargsrepr": "{}",
    }
    queue = farm.env["FARM_QUEUE"]
    with kombu.Connection(farm.redis.url) as connection:
        connection.Producer().publish(
            body,
            routing_key=queue,
            exchange=queue,
            headers=headers,
            content_type=content_type,
            content_encoding=content_encoding,
            declare=[kombu.Queue(queue, kombu.Exchange(queue, "direct"), routing_key=queue)],
        )


def task_body(spec: JobSpec) -> list:
    """Protocol 2's (args, kwargs, embed), as send_job produces it."""
    return [
        [spec.model_dump(mode="json")],
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]


def never_ran(farm: Farm, spec: JobSpec) -> bool:
    """The job was never claimed (no worker, no attempt, no lease, not running anywhere): still queued, or
    failed by the worker that refused its message (tasks/dead_letter.py), which then can never run it."""
    record = farm_store(farm).get(spec.job_id)
    client = farm.redis.client()
    lease = farm_store(farm).keys(spec.job_id).lease
    refused = record.status.value == "failed" and record.error.startswith("refused by a worker: ")
    return (
        (record.status.value == "queued" or refused)
        and record.attempts == 0
        and not record.worker
        and not client.exists(lease)
        and not client.sismember(running_set(farm.env["FARM_KEY_PREFIX"]), spec.job_id)
    )


async def test_a_signed_job_runs_end_to_end(signed_farm: SignedFarm, make_repo, scripted_gateway):
    farm = signed_farm.farm
    scripted_gateway.add_scenario(DONE_SCENARIO)
    repo = make_repo(parent=farm.sandbox)
    async with connect_mcp(farm) as client:
        started = await call_ok(
            client, "start", {"prompt": "Write signed.txt [[scenario:signed_job]]", "repo": str(repo)}
        )
        done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 90000})
    assert done["job_status"] == "completed", done
    assert done["changed_files"] == ["signed.txt"]


def serializer(key: Path, cert: Path) -> SecureSerializer:
    """Celery's own signing serializer with key and cert: what a forger holding them would use."""
    return SecureSerializer(
        PrivateKey(key.read_text()), Certificate(cert.read_text()), FSCertStore(str(cert)), "sha256"
    )


def test_forged_messages_are_refused_and_their_jobs_never_run(signed_farm: SignedFarm, make_repo, tmp_path):
    farm = signed_farm.farm
    repo = make_repo(parent=farm.sandbox)
    forgeries = []

    def forge(what: str, body_for, content_type: str) -> None:
        spec = queued_spec(farm, repo, f"{what} [[scenario:forged_job]]")
        publish_raw(farm, spec, body_for(task_body(spec)), content_type)
        forgeries.append(spec)

    forge("unsigned", lambda body: json.dumps(body).encode(), "application/json")
    # Signed properly, but by a key whose certificate the workers do not trust.
    intruder = serializer(*make_key_and_cert(tmp_path / "intruder", "intruder"))
    forge("signed by an intruder", intruder.serialize, "application/data")
    # An impostor: its certificate names the trusted one's issuer and serial, but its key is not that
    # certificate's.
    impostor = serializer(
        *make_key_and_cert(tmp_path / "impostor", "impostor", like=Path(farm.env["FARM_SIGNING_CERT_FILE"]))
    )
    forge("signed by an impostor", impostor.serialize, "application/data")
    # A worker's own key (its agents run as its user): workers trust only the frontend's certificate.
    worker_key = serializer(signed_farm.worker_signing.key, signed_farm.worker_signing.cert)
    forge("signed with a worker's key", worker_key.serialize, "application/data")

    queue, client = farm.env["FARM_QUEUE"], farm.redis.client()

    def refusals() -> list[int]:
        return [
            farm.worker_log().count(text)
            for text in (REFUSED_UNSIGNED, "Unknown certificate", "Bad signature")
        ]

    assert wait_until(
        lambda: all(refusals()) and farm.worker_log().count(REFUSED_SIGNATURE) >= 3, timeout=60
    ), farm.worker_log()[-4000:]
    assert wait_until(lambda: client.llen(queue) == 0, timeout=30), (
        "the worker never took the forged messages off the queue"
    )
    for spec in forgeries:
        assert never_ran(farm, spec), farm_store(farm).get(spec.job_id)
        assert client.xlen(farm_store(farm).keys(spec.job_id).log) == 0


def test_the_same_unsigned_message_runs_on_a_farm_without_signing(farm: Farm, make_repo, scripted_gateway):
    """The control: the forged message above is a well-formed job that an unsigned farm runs."""
    scripted_gateway.add_scenario(FORGED_SCENARIO)
    repo = make_repo(parent=farm.sandbox)
    spec = queued_spec(farm, repo, "unsigned [[scenario:forged_job]]")
    publish_raw(farm, spec, json.dumps(task_body(spec)).encode(), "application/json")
    store = farm_store(farm)
    assert wait_until(lambda: store.get(spec.job_id).status.value not in ("queued", "running"), timeout=90), (
        store.get(spec.job_id)
    )
    assert store.get(spec.job_id).status.value == "completed"


@pytest.mark.parametrize("problem", ["missing key", "key is not a key", "cert of another key", "partial"])
def test_worker_refuses_to_start_on_unusable_signing_files(
    problem: str, redis_server: RedisServer, tmp_path: Path
):
    files = make_signing_files(tmp_path)
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "FARM_QUEUE": "never-" + secrets.token_hex(3),
        **files.env(),
    }
    if problem == "missing key":
        env["FARM_SIGNING_KEY_FILE"] = str(tmp_path / "absent.key")
        expected = (
            f"FARM_SIGNING_KEY_FILE={tmp_path / 'absent.key'}: cannot read it (No such file or directory)"
        )
    elif problem == "key is not a key":
        files.key.write_text("not a key\n")
        expected = f"FARM_SIGNING_KEY_FILE={files.key}: not a PEM RSA private key"
    elif problem == "cert of another key":
        _, other_cert = make_key_and_cert(tmp_path / "other", "other")
        env["FARM_SIGNING_CERT_FILE"] = str(other_cert)
        expected = "FARM_SIGNING_CERT_FILE is not the certificate of FARM_SIGNING_KEY_FILE"
    else:
        del env["FARM_SIGNING_CERT_STORE"]
        expected = "not set: FARM_SIGNING_CERT_STORE"
    args = [sys.executable, "-m", "codex_farm", "worker", "--concurrency", "1"]
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode != 0
    assert expected in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and "ready." not in run.stdout + run.stderr
