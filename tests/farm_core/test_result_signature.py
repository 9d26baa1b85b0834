"""farm_core/result_signature.py: a worker's signature over a job's result holds only for exactly that
result."""

import pytest

from farm_core.job_models import CompactResult, JobRecord, JobSpec, JobStatus, RepoSource, ScopedPatch
from farm_core.result_signature import ResultClaim, result_signature_problem, sign_result
from farm_core.settings import FarmSettings
from tests.fixtures.signing import make_signing_files

SPEC = JobSpec(
    job_id="j1",
    prompt="p",
    source=RepoSource(transport="remote", location="/repos/app", origin_host="h"),
    snapshot_commit="a" * 40,
    timeout_ms=60_000,
    created_at=1.0,
    scoped_patch=ScopedPatch(paths=["src"]),
)
FILES = ["src/b.py", "src/a.py"]


@pytest.fixture
def farm(tmp_path) -> tuple[FarmSettings, FarmSettings]:
    """A worker's signing settings and a frontend's that trusts the worker's certificate."""
    worker = make_signing_files(tmp_path, "worker")
    frontend = make_signing_files(tmp_path, "frontend", trusted=[worker.cert])
    return FarmSettings(**worker.env()), FarmSettings(**frontend.env())


def signed_record(worker: FarmSettings, **changes) -> JobRecord:
    """The record a worker leaves, signed, then with `changes` made to it (by someone writing Redis)."""
    fields = sign_result(ResultClaim.of_job(SPEC, "c" * 40, "d" * 64, FILES), worker)
    result = CompactResult(job_id="j1", job_status=JobStatus.completed, changed_files=FILES)
    record = JobRecord(
        job_id="j1",
        status=JobStatus.completed,
        queue="q",
        created_at=1.0,
        spec=SPEC,
        result=result,
        result_commit="c" * 40,
        patch_sha256="d" * 64,
        **fields,
    )
    return record.model_copy(update=changes)


def test_signing_is_off_without_the_files():
    assert sign_result(ResultClaim.of_job(SPEC, "c" * 40, "d" * 64, FILES), FarmSettings()) == {}
    assert result_signature_problem(signed_record(FarmSettings()), FarmSettings()) is None


def test_a_signed_record_verifies_and_its_claim_does_not_depend_on_file_order(farm):
    worker, frontend = farm
    record = signed_record(worker)
    assert record.result_signer and record.result_signature
    assert result_signature_problem(record, frontend) is None
    assert ResultClaim.of_record(record).files == ("src/a.py", "src/b.py")


TAMPERING = {
    "result_commit": {"result_commit": "e" * 40},
    "patch_sha256": {"patch_sha256": "f" * 64},
    "files": {
        "result": CompactResult(
            job_id="j1", job_status=JobStatus.completed, changed_files=[*FILES, ".github/x.yml"]
        )
    },
    "scope": {"spec": SPEC.model_copy(update={"scoped_patch": None})},
    "location": {
        "spec": SPEC.model_copy(
            update={"source": SPEC.source.model_copy(update={"location": "/repos/other"})}
        )
    },
    "transport": {
        "spec": SPEC.model_copy(update={"source": SPEC.source.model_copy(update={"transport": "bundle"})})
    },
    "signature": {"result_signature": "AAAA"},
    "signature gone": {"result_signature": None},
}


@pytest.mark.parametrize("changes", TAMPERING.values(), ids=TAMPERING.keys())
def test_any_change_to_what_was_signed_is_caught(farm, changes):
    worker, frontend = farm
    assert result_signature_problem(signed_record(worker, **changes), frontend)


def test_a_key_the_frontend_does_not_trust_is_caught(farm, tmp_path):
    _, frontend = farm
    stranger = FarmSettings(**make_signing_files(tmp_path, "stranger").env())
    assert "Unknown certificate" in result_signature_problem(signed_record(stranger), frontend)
