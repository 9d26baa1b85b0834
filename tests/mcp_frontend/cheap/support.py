"""A FarmService on the session farm's Redis and adapter (in front of the scripted gateway), and finished
jobs."""

import os
import time
import uuid
from pathlib import Path

import pytest

from farm_core.job_models import CheckSpec, CompactResult, JobSpec, JobStatus, RepoSource
from farm_core.settings import FarmSettings
from mcp_frontend.service import FarmService
from mcp_frontend.settings import FrontendSettings


@pytest.fixture
def sandbox(tmp_path) -> Path:
    folder = tmp_path / "sandbox"
    folder.mkdir()
    return folder


@pytest.fixture
def service(farm, sandbox, tmp_path) -> FarmService:
    frontend = FrontendSettings(
        sandbox_root=sandbox, lite_cache_dir=tmp_path / "lite-cache", lite_cache_ttl_s=3600
    )
    settings = FarmSettings(
        redis_url=farm.redis.url,
        key_prefix=f"cheap-test-{uuid.uuid4().hex[:8]}:",
        adapter_url=farm.adapter.url,
        adapter_token=farm.adapter.token,
    )
    return FarmService(frontend, settings)


def make_job(
    service: FarmService,
    prompt: str = "p",
    patch: bytes | None = None,
    status: JobStatus = JobStatus.completed,
    checks: dict[str, str] | None = None,
    log: list[tuple[str, str]] = (),
    changed: list[str] = (),
) -> str:
    """A job record as a worker leaves it: spec, log lines, stored patch and a terminal (or running)
    status."""
    job_id = uuid.uuid4().hex
    spec = JobSpec(
        job_id=job_id,
        prompt=prompt,
        source=RepoSource(location="/nowhere", origin_host="h"),
        snapshot_commit="0" * 40,
        timeout_ms=60000,
        created_at=time.time(),
        checks=[CheckSpec(name=n, command="true") for n in checks or {}],
    )
    store = service.store
    store.create(spec)
    for kind, text in log:
        store.append_log(job_id, kind, text)
    if patch is not None:
        store.store_patch(job_id, patch)
    if status.terminal:
        verdicts = [f"{name}: {verdict}" for name, verdict in (checks or {}).items()]
        result = CompactResult(job_id=job_id, job_status=status, changed_files=list(changed), checks=verdicts)
        assert store.finish(job_id, status, result)
    else:
        store.set_fields(job_id, status=status.value)
    return job_id


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under folder, .git included: what a read-only tool must leave as it was."""
    files = {}
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files
