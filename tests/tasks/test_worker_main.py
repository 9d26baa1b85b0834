"""A worker's environment (REDIS_URL with its password, ADAPTER_TOKEN) is closed to the other processes of its
user: an unsandboxed agent of the same user, without CAP_SYS_PTRACE, reads neither the worker's nor its pool
processes' /proc files."""

import secrets
import sys
from pathlib import Path

import pytest

from farm_core.queue import RUN_JOB
from tasks.worker_main import app as worker_app
from tests.fixtures.farm import start_worker, stop_worker
from tests.fixtures.planted import REDIS_PASSWORD, plant
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.unprivileged import read_as_unprivileged, unprivileged
from tests.fixtures.waiting import wait_until


@pytest.fixture
def unprivileged_worker(redis_server: RedisServer, tmp_path: Path):
    """`codex-farm worker` run without any capability, as an agent of its user would be; stopped
    afterwards."""
    token = plant("worker adapter token", "worker-adapter-" + secrets.token_hex(8))
    queue = "dump" + secrets.token_hex(3)
    (tmp_path / "cache").mkdir()
    env = {
        "REDIS_URL": redis_server.url,
        "FARM_QUEUE": queue,
        "FARM_KEY_PREFIX": f"farm-test-{queue}:",
        "WORKER_CACHE_DIR": str(tmp_path / "cache"),
        "WORKER_CACHE_REGISTRY": str(tmp_path / "registry"),
        "ADAPTER_TOKEN": token,
    }
    command = unprivileged(
        [sys.executable, "-m", "codex_farm", "worker", "--concurrency", "1", "--loglevel", "INFO"]
    )
    worker = start_worker(env, tmp_path / "worker.log", command=command)
    yield worker, token
    stop_worker(worker)


def pool_processes(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def test_a_same_user_process_reads_nothing_of_the_workers_environment(unprivileged_worker):
    worker, token = unprivileged_worker
    assert wait_until(lambda: pool_processes(worker.pid), timeout=30), (
        "the worker should have forked its pool"
    )

    for pid in [worker.pid, *pool_processes(worker.pid)]:
        found = read_as_unprivileged(pid, "environ", "cmdline")
        leaked = [name for name, read in found.items() if read.holds(REDIS_PASSWORD) or read.holds(token)]
        assert not leaked, f"process {pid}: a same-user process read the worker's secrets from {leaked}"
        assert found["environ"].error == "PermissionError", f"process {pid}: its environ was readable"


def test_the_app_a_worker_runs_has_the_job_task_and_the_dead_letter_consumer():
    assert RUN_JOB in worker_app.tasks
    assert worker_app.conf.worker_consumer == "tasks.dead_letter:DeadLetterConsumer"
