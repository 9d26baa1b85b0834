"""The job schema: check names and timeouts, scoped patch paths, terminal statuses, verdicts."""

import json

import pytest
from pydantic import ValidationError

from farm_core.job_models import CheckSpec, CompactResult, JobRecord, JobStatus, ScopedPatch, verdict_of
from farm_core.shell_digest import shell_digest
from tasks.checks import CheckOutcome

TERMINAL = {
    JobStatus.queued: False,
    JobStatus.running: False,
    JobStatus.completed: True,
    JobStatus.failed: True,
    JobStatus.cancelled: True,
    JobStatus.timed_out: True,
    JobStatus.lost: True,
}


def test_every_status_is_classified():
    assert set(TERMINAL) == set(JobStatus)


@pytest.mark.parametrize(("status", "terminal"), TERMINAL.items(), ids=[s.value for s in TERMINAL])
def test_terminal(status, terminal):
    assert status.terminal is terminal


def test_status_values_are_their_names():
    assert [s.value for s in JobStatus] == [
        "queued",
        "running",
        "completed",
        "failed",
        "cancelled",
        "timed_out",
        "lost",
    ]
    assert JobStatus("timed_out") is JobStatus.timed_out


GOOD_NAMES = ["tests", "t", "unit tests", "lint:ruff", "py3.11/tests", "a-b_c", "x" * 64, "tëst"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_check_name_accepted(name):
    assert CheckSpec(name=name, command="true").name == name


BAD_NAMES = ["", "x" * 65, "tests;rm", "a\nb", "a\tb", "$(x)", "tests!", "a|b", "\n"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_check_name_refused(name):
    with pytest.raises(ValidationError, match="check name: 1-64 letters"):
        CheckSpec(name=name, command="true")


def test_check_name_with_trailing_newline_refused():
    with pytest.raises(ValidationError):
        CheckSpec(name="tests\n", command="true")


TIMEOUTS = [
    (999, False),
    (1000, True),
    (600_000, True),
    (10_800_000, True),
    (10_800_001, False),
    (0, False),
    (-1, False),
]


@pytest.mark.parametrize(("timeout_ms", "ok"), TIMEOUTS)
def test_check_timeout_bounds(timeout_ms, ok):
    if ok:
        assert CheckSpec(name="t", command="true", timeout_ms=timeout_ms).timeout_ms == timeout_ms
    else:
        with pytest.raises(ValidationError):
            CheckSpec(name="t", command="true", timeout_ms=timeout_ms)


def test_check_defaults_and_command_bounds():
    assert CheckSpec(name="t", command="make test").timeout_ms == 600_000
    assert CheckSpec(name="t", command="x" * 4096).command == "x" * 4096
    for command in ("", "x" * 4097):
        with pytest.raises(ValidationError):
            CheckSpec(name="t", command=command)


def test_check_extra_fields_forbidden():
    with pytest.raises(ValidationError):
        CheckSpec(name="t", command="true", shell="zsh")


CLEANED = [
    (["src"], ["src"]),
    (["src/"], ["src"]),
    (["./src/a.py"], ["src/a.py"]),
    ([" src/a.py "], ["src/a.py"]),
    (["a//b"], ["a/b"]),
    (["."], ["."]),
    (["a..b/c"], ["a..b/c"]),
    (["src", "docs/x.md"], ["src", "docs/x.md"]),
]


@pytest.mark.parametrize(("paths", "expected"), CLEANED)
def test_scoped_paths_cleaned(paths, expected):
    assert ScopedPatch(paths=paths).paths == expected


REFUSED_PATHS = [
    [""],
    ["   "],
    ["/etc"],
    ["/"],
    [".."],
    ["../x"],
    ["src/../../x"],
    ["src/.."],
    ["ok", "../bad"],
]


@pytest.mark.parametrize("paths", REFUSED_PATHS)
def test_scoped_paths_refused(paths):
    with pytest.raises(ValidationError, match="must be relative and stay inside the repo"):
        ScopedPatch(paths=paths)


def test_scoped_paths_count_bounds():
    assert len(ScopedPatch(paths=[f"p{i}" for i in range(200)]).paths) == 200
    for paths in ([], [f"p{i}" for i in range(201)]):
        with pytest.raises(ValidationError):
            ScopedPatch(paths=paths)


@pytest.mark.parametrize(("value", "ok"), [(None, True), (1, True), (0, False), (-5, False)])
def test_max_diff_bytes(value, ok):
    if ok:
        assert ScopedPatch(paths=["a"], max_diff_bytes=value).max_diff_bytes == value
    else:
        with pytest.raises(ValidationError):
            ScopedPatch(paths=["a"], max_diff_bytes=value)


# --- the verdict: one word for what the caller should do with a job ---

NOT_COMPLETED = [JobStatus.failed, JobStatus.cancelled, JobStatus.timed_out, JobStatus.lost]


def test_a_completed_job_is_accepted_when_its_checks_passed_and_repaired_otherwise():
    assert verdict_of(JobStatus.completed, checks_passed=True) == "accept"
    assert verdict_of(JobStatus.completed) == "accept"  # no checks at all
    assert verdict_of(JobStatus.completed, checks_passed=False) == "repair"


@pytest.mark.parametrize("status", NOT_COMPLETED, ids=[s.value for s in NOT_COMPLETED])
def test_a_job_that_did_not_complete_fails_whatever_its_checks(status):
    assert verdict_of(status, checks_passed=True) == verdict_of(status, checks_passed=False) == "fail"


@pytest.mark.parametrize("status", [JobStatus.queued, JobStatus.running], ids=["queued", "running"])
def test_a_job_still_going_has_no_verdict_and_its_result_leaves_the_field_out(status):
    result = CompactResult(job_id="j", job_status=status, verdict="accept")

    assert verdict_of(status) is None and result.verdict is None
    assert "verdict" not in result.model_dump() and "verdict" not in json.loads(result.model_dump_json())


@pytest.mark.parametrize("status", NOT_COMPLETED, ids=[s.value for s in NOT_COMPLETED])
def test_a_result_of_a_job_that_did_not_complete_says_fail(status):
    # As the reconciler, a cancel before start or a failed enqueue write them: no verdict given.
    assert CompactResult(job_id="j", job_status=status, error="why").verdict == "fail"
    assert CompactResult(job_id="j", job_status=status, verdict="accept").verdict == "fail"


def test_the_verdict_the_worker_gives_a_completed_job_is_kept_and_stored():
    result = CompactResult(
        job_id="j", job_status=JobStatus.completed, verdict="repair", checks=["tests: passed"]
    )

    assert result.verdict == "repair"  # the worker read the checks' outcomes; the strings do not overrule it
    assert CompactResult.model_validate_json(result.model_dump_json()) == result
    assert json.loads(result.model_dump_json())["verdict"] == "repair"


STORED_BEFORE_VERDICTS = [
    ([], "accept"),
    (["tests: passed"], "accept"),
    (
        ["scoped_patch: passed (src; 1 write(s) denied live: README.md)", "lint: passed", "tests: passed"],
        "accept",
    ),
    (["tests: failed"], "repair"),
    (["lint: passed", "tests: failed"], "repair"),
    (["scoped_patch: failed (src; outside scope: README.md)", "tests: passed"], "repair"),
    (["scoped_patch: failed (src; diff 900 bytes > max_diff_bytes 10)"], "repair"),
    (["slow: timed out"], "repair"),
]


@pytest.mark.parametrize(("checks", "verdict"), STORED_BEFORE_VERDICTS)
def test_a_completed_result_stored_without_a_verdict_gets_one_from_its_checks(checks, verdict):
    stored = json.dumps({"job_id": "j", "job_status": "completed", "checks": checks, "elapsed_ms": 5})

    assert CompactResult.model_validate_json(stored).verdict == verdict


def test_a_record_stored_without_a_verdict_still_loads_with_one():
    fields = {"job_id": "j", "status": "completed", "queue": "q", "created_at": 1.0}
    stored = {**fields, "result": {"job_id": "j", "job_status": "completed", "checks": ["tests: failed"]}}

    assert JobRecord.model_validate(stored).verdict == "repair"
    # enqueue failed: no result
    assert JobRecord.model_validate({**fields, "status": "failed"}).verdict == "fail"
    assert JobRecord.model_validate({**fields, "status": "running"}).verdict is None


def command(status: str, exit_code: int | None) -> CheckOutcome:
    return CheckOutcome(
        name="shell", status=status, exit_code=exit_code, duration_ms=10, output="1 failed in 0.1s\n", pgid=1
    )


SHELL_JOBS = [
    (JobStatus.completed, command("passed", 0), "accept"),
    (JobStatus.completed, command("failed", 1), "repair"),
    (
        JobStatus.completed,
        command("timed out", None),
        "repair",
    ),  # the worker ends such a job timed_out (next), but the rule holds
    (JobStatus.timed_out, command("timed out", None), "fail"),
    (JobStatus.cancelled, command("cancelled", None), "fail"),
    (JobStatus.failed, None, "fail"),  # e.g. its snapshot could not be fetched: the command never ran
]


@pytest.mark.parametrize(
    ("status", "outcome", "verdict"),
    SHELL_JOBS,
    ids=["passed", "failed", "timed_out", "job_timed_out", "cancelled", "never_ran"],
)
def test_a_shell_job_verdict_follows_its_command_digest(status, outcome, verdict):
    digest = shell_digest(outcome) if outcome else None
    result = CompactResult(
        job_id="j", job_status=status, checks=[outcome.verdict()] if outcome else [], shell=digest
    )

    assert result.verdict == verdict
    assert CompactResult.model_validate_json(result.model_dump_json(exclude={"verdict"})).verdict == verdict
