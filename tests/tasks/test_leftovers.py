"""A killed worker's leftovers on its host: processes of jobs no longer running are stopped, their homes
removed."""

import os
import signal
import subprocess
import uuid

import fakeredis
import pytest

from farm_core.job_models import JobSpec, JobStatus, RepoSource
from farm_core.process_tree import find_job_processes, job_env_marker
from farm_core.reconciler import reconcile_job
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from tasks.leftovers import clear_abandoned_jobs, job_home
from tests.fixtures.waiting import is_gone, wait_until


@pytest.fixture
def job_processes():
    """Factory: a detached `sleep` carrying a job's marker (like an agent's background command); killed
    afterwards."""
    started: list[subprocess.Popen] = []

    def start(job_id: str) -> subprocess.Popen:
        process = subprocess.Popen(
            ["sleep", "600"], env={**os.environ, **job_env_marker(job_id)}, start_new_session=True
        )
        started.append(process)
        assert wait_until(lambda: process.pid in find_job_processes(job_id), timeout=5)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()


def new_job_id() -> str:
    return uuid.uuid4().hex


def test_abandoned_jobs_lose_their_processes_and_homes_and_running_ones_keep_them(tmp_path, job_processes):
    abandoned, running = new_job_id(), new_job_id()
    for job_id in (abandoned, running):
        (job_home(tmp_path, job_id) / "tmp").mkdir(parents=True)
    left_behind, still_working = job_processes(abandoned), job_processes(running)

    cleared = clear_abandoned_jobs(tmp_path, lambda: {running})

    assert cleared == [abandoned]
    assert wait_until(lambda: is_gone(left_behind.pid), timeout=5)
    assert not job_home(tmp_path, abandoned).exists()
    assert still_working.poll() is None and job_home(tmp_path, running).is_dir()


def test_nothing_to_clear_does_not_ask_redis(tmp_path):
    def running_ids():
        raise AssertionError("no home, so no need to know the running jobs")

    assert clear_abandoned_jobs(tmp_path, running_ids) == []


def test_a_job_declared_lost_loses_the_processes_its_silent_worker_left(job_processes):
    store = JobStore(fakeredis.FakeRedis(server=fakeredis.FakeServer()), "t:", 3600, 50, lease_s=0.001)
    job_id = new_job_id()
    store.create(
        JobSpec(
            job_id=job_id,
            prompt="p",
            source=RepoSource(location="/r", origin_host="h"),
            snapshot_commit="a" * 40,
            queue="q",
            timeout_ms=60_000,
            created_at=1.0,
        )
    )
    assert store.claim(job_id, "w1") == "claimed"
    store.set_fields(job_id, heartbeat_at=0)  # silent since long ago; the tiny lease has lapsed
    left_behind = job_processes(job_id)

    decision = reconcile_job(store, job_id, FarmSettings(max_attempts=1, lost_grace_s=1))

    assert decision == "lost"
    assert store.get(job_id).status == JobStatus.lost
    assert wait_until(lambda: is_gone(left_behind.pid), timeout=5)
    assert [entry.text for entry in store.read_log(job_id, None, 10)][
        0
    ] == "stopped 1 process(es) left by worker w1"
