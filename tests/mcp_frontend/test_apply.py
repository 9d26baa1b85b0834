"""apply brings a job's patch into the caller's tree: merged, never committed, staged or stashed."""

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcp_frontend.apply import APPLY_CLAIMED, NOTHING_TO_APPLY, PatchApplier, not_eligible
from mcp_frontend.errors import ApplyFailed, JobNotFinished, NotAGitRepo, PatchUnavailable, RepoOutsideSandbox
from mcp_frontend.snapshot import snapshot_worktree
from tasks.job_models import CheckSpec, CompactResult, JobRecord, JobSpec, JobStatus, RepoSource, ScopedPatch
from tasks.packaging import binary_patch, commit_result
from tasks.store import JobStore
from tests.fixtures.git_repos import git

BINARY = bytes(range(256)) * 4

GREET = "def greet():\n    return 'hello'\n\n\n# helpers below\n\n\ndef other():\n    return 2\n"
NOTES = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n"
FILES = {"README.md": "# sample\n", "src/app.py": GREET, "notes.txt": NOTES, "old_name.txt": "moved\n"}


@dataclass
class Caller:
    """A caller's checkout inside a sandbox, a store with its own prefix, and an applier over both."""

    sandbox: Path
    repo: Path
    store: JobStore
    applier: PatchApplier


@pytest.fixture
def caller(tmp_path, make_repo, redis_server) -> Caller:  # noqa: F811
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    repo = make_repo(FILES, name="caller", parent=sandbox)
    store = JobStore(redis_server.client(), f"apply-test-{uuid.uuid4().hex[:8]}:", 600, 100)
    return Caller(sandbox, repo, store, PatchApplier(store, sandbox))


def run_job(
    caller: Caller,
    tmp_path: Path,
    changes: dict[str, str | bytes | tuple[str] | None],
    status: JobStatus = JobStatus.completed,
    verdicts: list[str] | None = None,
    apply: str = "never",
    **spec_fields,
) -> str:
    """Snapshot the caller's tree, make `changes` in a clone as a worker would, store the patch.

    A change is new content, None (delete) or `(old_name,)` (rename old_name to this path)."""
    job_id = uuid.uuid4().hex
    snapshot = snapshot_worktree(caller.repo, job_id)
    spec = JobSpec(
        job_id=job_id, prompt="p", source=RepoSource(location=str(caller.repo), origin_host=socket.gethostname()),
        snapshot_commit=snapshot.commit, timeout_ms=60000, created_at=time.time(), apply=apply, **spec_fields,
    )  # fmt: skip
    caller.store.create(spec)
    files = []
    if changes:
        commit = worker_commit(caller.repo, tmp_path / f"worker-{job_id}", snapshot.ref, job_id, changes)
        caller.store.store_patch(job_id, commit[2])
        caller.store.set_fields(job_id, result_commit=commit[1])
        files = commit[0]
    result = CompactResult(job_id=job_id, job_status=status, changed_files=files, checks=verdicts or [])
    assert caller.store.finish(job_id, status, result)
    return job_id


def worker_commit(repo: Path, clone: Path, ref: str, job_id: str, changes) -> tuple[list[str], str, bytes]:
    """What the worker does: edit a checkout of the snapshot, commit on it, make the binary patch."""
    git(repo.parent, "clone", "-q", "--no-checkout", str(repo), str(clone))
    git(clone, "fetch", "-q", "origin", ref)
    git(clone, "checkout", "-q", "--detach", "FETCH_HEAD")
    snapshot = git(clone, "rev-parse", "HEAD").strip()
    for rel, content in changes.items():
        path = clone / rel
        if isinstance(content, tuple):
            path.parent.mkdir(parents=True, exist_ok=True)
            (clone / content[0]).rename(path)
        elif content is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    commit = commit_result(clone, job_id, "result", base=snapshot)
    return commit.files, commit.commit, binary_patch(clone, commit.parent, commit.commit)


def record(caller: Caller, job_id: str) -> JobRecord:
    return caller.store.get(job_id)


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout


def refs_and_index(repo: Path) -> dict[str, bytes]:
    """What apply must never change: HEAD, every branch and tag, the index, the stash, the commit count."""
    return {
        "head": git_bytes(repo, "rev-parse", "HEAD"),
        "head_ref": git_bytes(repo, "symbolic-ref", "HEAD"),
        "refs": git_bytes(repo, "for-each-ref", "refs/heads", "refs/tags", "refs/stash"),
        "index": git_bytes(repo, "ls-files", "-s", "--debug"),
        "stash": git_bytes(repo, "stash", "list"),
        "commits": git_bytes(repo, "rev-list", "--count", "--all"),
    }


def tree_bytes(repo: Path) -> dict[str, bytes]:
    """Every working file's bytes, .git excluded."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [name for name in dirnames if name != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            files[path.relative_to(repo).as_posix()] = path.read_bytes()
    return files


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain=v1", "--untracked-files=all")


JOB_CHANGES = {
    "src/app.py": GREET.replace("'hello'", "'hello farm'"),
    "notes.txt": NOTES.replace("two\n", "TWO (job)\n"),
    "src/new_module.py": "VALUE = 1\n",
    "image.bin": BINARY,
    "new_name.txt": ("old_name.txt",),
}


def test_apply_lands_the_patch_unstaged_without_moving_anything(caller, tmp_path):
    git(caller.repo, "checkout", "-q", "-b", "feature")
    (caller.repo / "README.md").write_text("# sample\nlocal edit\n")
    job_id = run_job(caller, tmp_path, JOB_CHANGES)
    before = refs_and_index(caller.repo)

    result = caller.applier.apply(record(caller, job_id))

    assert result.applied and result.mode == "3way" and result.conflicts == []
    assert result.files == ["image.bin", "new_name.txt", "notes.txt", "old_name.txt", "src/app.py", "src/new_module.py"]
    assert "unstaged" in result.message
    assert refs_and_index(caller.repo) == before
    files = tree_bytes(caller.repo)
    assert files["src/app.py"] == JOB_CHANGES["src/app.py"].encode()
    assert files["notes.txt"] == JOB_CHANGES["notes.txt"].encode()
    assert files["image.bin"] == BINARY and files["new_name.txt"] == b"moved\n" and "old_name.txt" not in files
    assert files["README.md"] == b"# sample\nlocal edit\n"
    assert sorted(status(caller.repo).splitlines()) == [
        " D old_name.txt", " M README.md", " M notes.txt", " M src/app.py",
        "?? image.bin", "?? new_name.txt", "?? src/new_module.py",
    ]  # fmt: skip


def test_a_second_apply_says_already_applied_unless_forced(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": NOTES.replace("two\n", "TWO (job)\n")})
    assert caller.applier.apply(record(caller, job_id)).applied
    after_first = tree_bytes(caller.repo)

    again = caller.applier.apply(record(caller, job_id))
    assert not again.applied and again.message.startswith("already applied at ")
    assert tree_bytes(caller.repo) == after_first

    forced = caller.applier.apply(record(caller, job_id), force=True)
    assert forced.applied  # the same change merged onto itself is clean
    assert tree_bytes(caller.repo) == after_first


def test_local_edit_of_the_same_lines_conflicts_and_only_git_3way_writes(caller, tmp_path):
    job_id = run_job(caller, tmp_path, JOB_CHANGES)
    # After the job started: the user edits the same line, another part of a patched file, and an unrelated file.
    (caller.repo / "notes.txt").write_text(NOTES.replace("two\n", "two (mine)\n"))
    (caller.repo / "src/app.py").write_text(GREET.replace("return 2", "return 3"))
    (caller.repo / "README.md").write_text("# sample\nmine, not in the patch\n")
    git(caller.repo, "add", "README.md")  # staged, and must stay staged as it was
    readme, before = (caller.repo / "README.md").read_bytes(), refs_and_index(caller.repo)

    result = caller.applier.apply(record(caller, job_id))

    assert not result.applied
    assert result.conflicts == ["notes.txt"]
    assert "conflict" in result.message
    notes = (caller.repo / "notes.txt").read_text()
    assert "<<<<<<<" in notes and "two (mine)" in notes and "TWO (job)" in notes and ">>>>>>>" in notes
    # git --3way still applies the patch's other files; the merge keeps the user's own addition.
    assert (caller.repo / "src/app.py").read_text() == JOB_CHANGES["src/app.py"].replace("return 2", "return 3")
    assert (caller.repo / "src/new_module.py").read_text() == "VALUE = 1\n"
    assert (caller.repo / "README.md").read_bytes() == readme
    assert refs_and_index(caller.repo) == before
    assert caller.applier.apply(record(caller, job_id)).message.startswith("already applied")


def test_a_patch_git_refuses_changes_nothing_and_names_the_file(caller, tmp_path):
    job_id = run_job(caller, tmp_path, JOB_CHANGES)
    (caller.repo / "notes.txt").unlink()  # the user deleted a file the patch edits
    before, files = refs_and_index(caller.repo), tree_bytes(caller.repo)

    result = caller.applier.apply(record(caller, job_id))

    assert not result.applied and result.conflicts == ["notes.txt"] and result.files == []
    assert "nothing was changed" in result.message
    assert tree_bytes(caller.repo) == files and refs_and_index(caller.repo) == before
    (caller.repo / "notes.txt").write_text(NOTES)  # fixed: the refusal did not use up the job's apply
    assert caller.applier.apply(record(caller, job_id)).applied


@pytest.mark.parametrize("local_edit", [False, True], ids=["clean", "conflicting"])
def test_check_mode_changes_nothing(caller, tmp_path, local_edit):
    job_id = run_job(caller, tmp_path, JOB_CHANGES)
    if local_edit:
        (caller.repo / "notes.txt").write_text(NOTES.replace("two\n", "two (mine)\n"))
    before = (refs_and_index(caller.repo), tree_bytes(caller.repo), status(caller.repo))
    index_bytes = (caller.repo / ".git" / "index").read_bytes()

    result = caller.applier.apply(record(caller, job_id), mode="check")

    assert result.mode == "check" and not result.applied
    assert result.files == ["image.bin", "new_name.txt", "notes.txt", "old_name.txt", "src/app.py", "src/new_module.py"]
    assert result.conflicts == (["notes.txt"] if local_edit else [])
    assert result.message.startswith("would conflict" if local_edit else "would apply cleanly")
    assert (refs_and_index(caller.repo), tree_bytes(caller.repo), status(caller.repo)) == before
    assert (caller.repo / ".git" / "index").read_bytes() == index_bytes
    assert caller.applier.apply(record(caller, job_id)).applied == (not local_edit)  # check did not use up the apply


def test_a_job_that_changed_nothing_has_nothing_to_apply(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {})
    result = caller.applier.apply(record(caller, job_id))
    assert not result.applied and result.message == NOTHING_TO_APPLY and result.files == []


def test_errors_are_structured(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"})
    caller.store.redis.delete(caller.store.keys(job_id).patch)  # expired
    with pytest.raises(PatchUnavailable):
        caller.applier.apply(record(caller, job_id))

    queued = JobSpec(
        job_id=uuid.uuid4().hex, prompt="p", source=RepoSource(location=str(caller.repo), origin_host="h"),
        snapshot_commit="0" * 40, timeout_ms=60000, created_at=time.time(),
    )  # fmt: skip
    caller.store.create(queued)
    with pytest.raises(JobNotFinished) as error:
        caller.applier.apply(record(caller, queued.job_id))
    assert error.value.code == "job_not_finished"


def test_repo_that_left_the_sandbox_is_refused(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"})
    outside = tmp_path / "elsewhere"
    caller.repo.rename(outside)
    with pytest.raises(NotAGitRepo):
        caller.applier.apply(record(caller, job_id))
    caller.repo.symlink_to(outside, target_is_directory=True)  # same path, now resolving outside SANDBOX_ROOT
    with pytest.raises(RepoOutsideSandbox) as error:
        caller.applier.apply(record(caller, job_id))
    assert error.value.code == "repo_outside_sandbox"
    assert (outside / "notes.txt").read_text() == NOTES


def test_a_different_repo_at_the_same_path_is_refused(caller, tmp_path, make_repo):  # noqa: F811
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"})
    caller.repo.rename(tmp_path / "original")
    make_repo(FILES, name="caller", parent=caller.sandbox)
    with pytest.raises(ApplyFailed, match="snapshot commit"):
        caller.applier.apply(record(caller, job_id))


PASSING = {
    "verdicts": ["scoped_patch: passed (notes.txt)", "tests: passed"],
    "scoped_patch": ScopedPatch(paths=["notes.txt"]),
    "checks": [CheckSpec(name="tests", command="true")],
}


def test_on_success_applies_a_passing_job_once_across_frontends(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"}, apply="on_success", **PASSING)

    first = caller.applier.on_success(record(caller, job_id))
    assert first.applied and first.files == ["notes.txt"]
    assert (caller.repo / "notes.txt").read_text() == "job\n"
    (caller.repo / "notes.txt").write_text("edited after the apply\n")

    other_frontend = PatchApplier(caller.store, caller.sandbox)
    assert other_frontend.on_success(record(caller, job_id)) == first  # the stored result, no second apply
    assert caller.applier.on_success(record(caller, job_id)) == first
    assert (caller.repo / "notes.txt").read_text() == "edited after the apply\n"


def test_on_success_never_applies_while_another_frontend_holds_the_claim(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"}, apply="on_success", **PASSING)
    caller.store.redis.hset(caller.store.keys(job_id).record, APPLY_CLAIMED, "other-host:1")

    result = caller.applier.on_success(record(caller, job_id))

    assert not result.applied and "in progress" in result.message
    assert (caller.repo / "notes.txt").read_text() == NOTES


@pytest.mark.parametrize(
    "status, verdicts",
    [
        (JobStatus.completed, ["scoped_patch: passed (notes.txt)", "tests: failed"]),
        (JobStatus.completed, ["scoped_patch: failed (notes.txt; outside scope: x)", "tests: passed"]),
        (JobStatus.failed, ["scoped_patch: passed (notes.txt)", "tests: passed"]),
    ],
    ids=["failing-check", "scope-violated", "job-failed"],
)
def test_on_success_leaves_an_unsuccessful_job_alone(caller, tmp_path, status, verdicts):
    job_id = run_job(
        caller, tmp_path, {"notes.txt": "job\n"}, status=status, apply="on_success",
        verdicts=verdicts, scoped_patch=PASSING["scoped_patch"], checks=PASSING["checks"],
    )  # fmt: skip

    result = caller.applier.on_success(record(caller, job_id))

    assert not result.applied and result.message.startswith("not applied automatically")
    assert (caller.repo / "notes.txt").read_text() == NOTES
    assert caller.applier.apply(record(caller, job_id)).applied  # the caller may still apply it by hand


def test_on_success_is_off_by_default_and_reports_a_manual_apply(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"}, **PASSING)
    assert caller.applier.on_success(record(caller, job_id)) is None
    assert (caller.repo / "notes.txt").read_text() == NOTES
    manual = caller.applier.apply(record(caller, job_id))
    assert caller.applier.on_success(record(caller, job_id)) == manual


def test_on_success_reports_an_error_once_instead_of_raising(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"}, apply="on_success", **PASSING)
    caller.store.redis.delete(caller.store.keys(job_id).patch)

    result = caller.applier.on_success(record(caller, job_id))

    assert not result.applied and "patch_unavailable" in result.message
    assert caller.applier.on_success(record(caller, job_id)) == result


def test_eligibility_needs_every_verdict_passed():
    spec = JobSpec(
        job_id="j", prompt="p", source=RepoSource(location="/r", origin_host="h"), snapshot_commit="0" * 40,
        timeout_ms=1000, created_at=0.0, checks=[CheckSpec(name="a: b", command="true")],
    )  # fmt: skip

    def eligible(verdicts: list[str], status: JobStatus = JobStatus.completed) -> bool:
        result = CompactResult(job_id="j", job_status=status, checks=verdicts)
        return not_eligible(JobRecord(job_id="j", status=status, queue="q", created_at=0.0, spec=spec, result=result)) is None

    assert eligible(["a: b: passed"])
    assert not eligible(["a: b: failed"])
    assert not eligible(["a: b: timed out"])
    assert not eligible([])  # a verdict went missing
    assert not eligible(["a: b: passed"], JobStatus.cancelled)
