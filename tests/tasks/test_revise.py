"""Auto-revise: the failure digest the agent gets, undoing what the checks wrote between passes, and the
failures that make a completed job's verdict."""

from pathlib import Path

import pytest

from farm_core.job_models import CompactResult, JobStatus, PassRecord, verdict_of
from tasks.checks import CheckOutcome
from tasks.packaging import changed_files, commit_result, restore_working_tree, working_tree_id
from tasks.revise import INSTRUCTIONS, Failure, failure_digest, failures_of
from tests.fixtures.git_repos import git


def check(name: str, status: str, output: str) -> CheckOutcome:
    return CheckOutcome(
        name=name,
        status=status,
        exit_code=1 if status == "failed" else 0,
        duration_ms=5,
        output=output,
        pgid=1,
    )


def test_digest_names_failing_checks_with_their_decisive_lines_and_the_instruction():
    lint = check("lint", "passed", "all good")
    tests = check(
        "tests",
        "failed",
        "collected 3 items\nFAILED tests/test_app.py::test_greet - assert 1 == 2\n1 failed, 2 passed",
    )
    failures = failures_of(
        ["scoped_patch: failed (src; outside scope: README.md)", "lint: passed", "tests: failed"],
        [lint, tests],
    )

    digest = failure_digest(failures, next_pass=2, last_pass=3)

    assert [f.verdict for f in failures] == [
        "scoped_patch: failed (src; outside scope: README.md)",
        "tests: failed",
    ]
    assert digest.startswith("The checks failed after your changes (revision pass 2 of 3):")
    assert (
        "- tests: failed\n    collected 3 items\n    FAILED tests/test_app.py::test_greet - assert 1 == 2\n"
        in digest
    )
    assert "- scoped_patch: failed (src; outside scope: README.md)" in digest
    assert "lint" not in digest
    assert digest.endswith(INSTRUCTIONS)
    assert "do not touch unrelated files" in digest


def test_timed_out_checks_fail_but_cancelled_ones_do_not():
    found = failures_of([], [check("slow", "timed out", "waiting"), check("stopped", "cancelled", "")])
    assert [f.verdict for f in found] == ["slow: timed out"]


SCOPE_PASSED = "scoped_patch: passed (src)"
SCOPE_FAILED = "scoped_patch: failed (src; outside scope: README.md)"
PASSES = [
    ([], [], "accept"),
    ([SCOPE_PASSED], [check("tests", "passed", "ok")], "accept"),
    ([SCOPE_PASSED], [check("lint", "passed", ""), check("tests", "failed", "1 failed")], "repair"),
    ([SCOPE_FAILED], [check("tests", "passed", "ok")], "repair"),
    ([], [check("slow", "timed out", "waiting")], "repair"),
]


@pytest.mark.parametrize(
    ("scope", "checks", "verdict"),
    PASSES,
    ids=["no_checks", "all_passed", "check_failed", "scope_failed", "check_timed_out"],
)
def test_a_completed_job_verdict_comes_from_its_last_pass_failures(scope, checks, verdict):
    # As the pipeline does: the verdicts it reports, then the failures read from the checks' outcomes.
    failures = failures_of(scope + [c.verdict() for c in checks], checks)
    assert verdict_of(JobStatus.completed, checks_passed=not failures) == verdict


def test_digest_is_bounded_in_lines_and_bytes():
    many = [
        Failure(f"check{i}: failed", [f"Error {i}.{j}: " + "x" * 50 for j in range(30)]) for i in range(5)
    ]
    digest = failure_digest(many, next_pass=2, last_pass=2)
    output_lines = [line for line in digest.splitlines() if line.startswith("    Error")]
    assert len(output_lines) <= 40
    assert sum(len(line.encode()) + 1 for line in output_lines) <= 4096
    assert "more line(s) omitted" in digest
    assert all(f"- check{i}: failed" in digest for i in range(5))  # every failing name survives the budget

    long_line = failure_digest([Failure("t: failed", ["E" * 5000])], 2, 2)
    assert len(long_line.encode()) < 1000


def test_pass_records_serialize_as_pass_and_the_compact_result_leaves_them_out_by_default():
    plain = CompactResult(job_id="j", job_status=JobStatus.completed)
    assert "passes" not in plain.model_dump() and "passes" not in plain.model_dump_json()
    revised = CompactResult(
        job_id="j",
        job_status=JobStatus.completed,
        passes=[PassRecord(pass_=1, model=None, checks=["t: failed"])],
    )
    assert revised.model_dump(mode="json")["passes"] == [{"pass": 1, "model": None, "checks": ["t: failed"]}]
    assert CompactResult.model_validate_json(revised.model_dump_json()) == revised


def test_restore_working_tree_undoes_what_checks_wrote(make_repo):  # noqa: F811
    repo: Path = make_repo({"app.py": "v1\n", "keep.txt": "keep\n", ".gitignore": "*.log\n"})
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "app.py").write_text("v2\n")  # the agent's work
    (repo / "new.py").write_text("new\n")
    tree = working_tree_id(repo)
    assert git(repo, "status", "--porcelain").strip()  # nothing staged in the real index by asking
    (repo / "app.py").write_text("clobbered by a check\n")  # what a check did
    (repo / "keep.txt").unlink()
    (repo / "report" / "x").mkdir(parents=True)
    (repo / "report" / "x" / "out.xml").write_text("<r/>\n")
    (repo / "run.log").write_text("ignored\n")

    restore_working_tree(repo, tree)

    assert (repo / "app.py").read_text() == "v2\n" and (repo / "new.py").read_text() == "new\n"
    assert (repo / "keep.txt").read_text() == "keep\n"
    assert not (repo / "report").exists()
    assert (repo / "run.log").exists()  # ignored files are left alone
    assert changed_files(repo, base=base) == ["app.py", "new.py"]
    result = commit_result(repo, "job1", "result", base=base, tree=tree)
    assert result is not None and result.files == ["app.py", "new.py"]
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == tree
