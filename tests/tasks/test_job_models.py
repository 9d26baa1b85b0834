"""The job schema: check names and timeouts, scoped patch paths, terminal statuses."""

import pytest
from pydantic import ValidationError

from tasks.job_models import CheckSpec, JobStatus, ScopedPatch

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
    assert [s.value for s in JobStatus] == ["queued", "running", "completed", "failed", "cancelled", "timed_out", "lost"]
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


TIMEOUTS = [(999, False), (1000, True), (600_000, True), (10_800_000, True), (10_800_001, False), (0, False), (-1, False)]


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


REFUSED_PATHS = [[""], ["   "], ["/etc"], ["/"], [".."], ["../x"], ["src/../../x"], ["src/.."], ["ok", "../bad"]]


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
