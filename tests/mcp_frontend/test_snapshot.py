"""Snapshots commit the caller's working tree as it is and leave the caller's repo untouched."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from farm_core.git_errors import GitOperationError
from mcp_frontend.snapshot import (
    SNAPSHOT_REF_PREFIX,
    drop_snapshot_ref,
    pin_commit,
    resolve_commitish,
    snapshot_worktree,
)
from tests.fixtures.git_repos import git


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout


def git_probe(repo: Path, *args: str) -> tuple[int, bytes]:
    completed = subprocess.run(["git", *args], cwd=repo, capture_output=True)
    return completed.returncode, completed.stdout


def index_file(repo: Path) -> Path:
    return repo / git(repo, "rev-parse", "--git-path", "index").strip()


def caller_state(repo: Path) -> dict[str, object]:
    """Everything a snapshot must not change, as raw bytes."""
    return {
        "status": git_bytes(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all"),
        "stash": git_bytes(repo, "stash", "list"),
        "head_ref": git_probe(repo, "symbolic-ref", "-q", "HEAD"),
        "head": git_probe(repo, "rev-parse", "-q", "--verify", "HEAD"),
        "branches_and_tags": git_bytes(repo, "for-each-ref", "refs/heads", "refs/tags"),
        "index": git_bytes(repo, "ls-files", "-s"),
        "files": disk_files(repo),
    }


def disk_files(repo: Path, ignored: frozenset[str] = frozenset()) -> dict[str, tuple[str, bytes]]:
    """Working files as {path: (git mode, content or link target)}, skipping .git and ignored paths."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [name for name in dirnames if name != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(repo).as_posix()
            if rel == ".git" or any(rel == skip or rel.startswith(skip + "/") for skip in ignored):
                continue
            if path.is_symlink():
                files[rel] = ("120000", os.readlink(path).encode())
            else:
                mode = "100755" if path.stat().st_mode & stat.S_IXUSR else "100644"
                files[rel] = (mode, path.read_bytes())
    return files


def tree_files(repo: Path, commit: str) -> dict[str, tuple[str, bytes]]:
    """A commit's files as {path: (mode, blob bytes)}."""
    files = {}
    for record in git_bytes(repo, "ls-tree", "-r", "-z", commit).split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        mode, _kind, blob = meta.decode().split()
        files[os.fsdecode(path)] = (mode, git_bytes(repo, "cat-file", "blob", blob))
    return files


@pytest.fixture
def messy_repo(make_repo):  # noqa: F811
    """A repo with a stash, a second branch and every kind of pending change."""
    repo = make_repo(
        {
            "README.md": "# sample\n",
            "src/app.py": "print('v1')\n",
            "src/old.py": "old = True\n",
            "docs/guide.md": "guide\n",
            ".gitignore": "*.log\nbuild/\n",
        }
    )
    git(repo, "branch", "feature")
    (repo / "README.md").write_text("# stashed edit\n")
    git(repo, "stash", "push", "-q", "-m", "kept")
    (repo / "README.md").write_text("# staged edit\n")
    git(repo, "add", "README.md")
    (repo / "src/app.py").write_text("print('unstaged')\n")
    (repo / "src/old.py").unlink()
    git(repo, "rm", "-q", "docs/guide.md")
    nested = repo / "new dir" / "ünï côde"
    nested.mkdir(parents=True)
    (nested / "mödule with space.py").write_text("x = 'ü'\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "link").symlink_to("README.md")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build/out.txt").write_text("ignored too\n")
    return repo


def test_snapshot_commits_exactly_the_working_tree(messy_repo: Path) -> None:
    snapshot = snapshot_worktree(messy_repo, "job-1")

    expected = disk_files(messy_repo, ignored=frozenset({"debug.log", "build"}))
    assert tree_files(messy_repo, snapshot.commit) == expected
    assert "src/old.py" not in expected and "docs/guide.md" not in expected
    assert expected["run.sh"][0] == "100755"
    assert expected["link"] == ("120000", b"README.md")
    assert expected["new dir/ünï côde/mödule with space.py"][1] == "x = 'ü'\n".encode()


def test_snapshot_leaves_the_caller_untouched(messy_repo: Path) -> None:
    before = caller_state(messy_repo)
    index_before = index_file(messy_repo).read_bytes()

    snapshot_worktree(messy_repo, "job-1")

    assert index_file(messy_repo).read_bytes() == index_before
    assert caller_state(messy_repo) == before
    assert git(messy_repo, "stash", "list").count("\n") == 1


def test_snapshot_sits_on_head_under_a_private_ref(messy_repo: Path) -> None:
    head = git(messy_repo, "rev-parse", "HEAD").strip()

    snapshot = snapshot_worktree(messy_repo, "job-1")

    assert snapshot.base_commit == head
    assert snapshot.ref == SNAPSHOT_REF_PREFIX + "job-1"
    assert git(messy_repo, "rev-parse", snapshot.ref).strip() == snapshot.commit
    assert git(messy_repo, "rev-list", "--parents", "-n1", snapshot.commit).split() == [snapshot.commit, head]
    assert git(messy_repo, "log", "-1", "--format=%an <%ae>|%s", snapshot.commit).strip() == (
        "codex-farm <codex-farm@localhost>|codex-farm snapshot job-1"
    )
    assert "job-1" not in git(messy_repo, "branch", "--all")


def test_clean_repo_snapshot_has_heads_tree(make_repo) -> None:  # noqa: F811
    repo = make_repo({"a/b/c/deep.txt": "deep\n", "top.txt": "top\n"})

    snapshot = snapshot_worktree(repo, "clean")

    assert git(repo, "rev-parse", f"{snapshot.commit}^{{tree}}") == git(repo, "rev-parse", "HEAD^{tree}")
    assert set(tree_files(repo, snapshot.commit)) == {"a/b/c/deep.txt", "top.txt"}


def test_repo_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "nested/dir").mkdir(parents=True)
    (repo / "nested/dir/untracked.txt").write_text("untracked\n")
    before = caller_state(repo)

    snapshot = snapshot_worktree(repo, "first")

    assert snapshot.base_commit is None
    assert git(repo, "rev-list", "--parents", "-n1", snapshot.commit).split() == [snapshot.commit]
    assert tree_files(repo, snapshot.commit) == disk_files(repo)
    assert caller_state(repo) == before


def test_repo_without_commits_or_files(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")

    snapshot = snapshot_worktree(repo, "nothing")

    assert tree_files(repo, snapshot.commit) == {}


def test_linked_worktree_checkout(make_repo, tmp_path: Path) -> None:  # noqa: F811
    repo = make_repo({"shared.txt": "v1\n"})
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    assert (linked / ".git").is_file()
    (linked / "shared.txt").write_text("v2 in linked\n")
    (linked / "extra.txt").write_text("extra\n")
    main_before, linked_before = caller_state(repo), caller_state(linked)

    snapshot = snapshot_worktree(linked, "from-linked")

    assert tree_files(linked, snapshot.commit) == disk_files(linked)
    assert caller_state(repo) == main_before
    assert caller_state(linked) == linked_before
    # The ref lives in the shared ref store, so fetching the main repo finds it.
    assert git(repo, "rev-parse", snapshot.ref).strip() == snapshot.commit


def test_subdirectory_snapshots_the_whole_repo(make_repo) -> None:  # noqa: F811
    repo = make_repo({"pkg/mod.py": "a\n", "top.txt": "t\n"})
    (repo / "top.txt").write_text("changed\n")

    snapshot = snapshot_worktree(repo / "pkg", "sub")

    assert tree_files(repo, snapshot.commit)["top.txt"] == ("100644", b"changed\n")


def test_inherited_git_env_does_not_redirect(make_repo, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    repo = make_repo({"mine.txt": "mine\n"})
    elsewhere = make_repo({"other.txt": "other\n"})
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(elsewhere / ".git" / "index"))

    snapshot = snapshot_worktree(repo, "env")

    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert set(tree_files(repo, snapshot.commit)) == {"mine.txt"}


def test_drop_snapshot_ref_is_idempotent(make_repo) -> None:  # noqa: F811
    repo = make_repo()
    snapshot = snapshot_worktree(repo, "gone")

    drop_snapshot_ref(repo, "gone")
    drop_snapshot_ref(repo, "gone")

    assert git_probe(repo, "rev-parse", "-q", "--verify", snapshot.ref)[0] != 0


@pytest.mark.parametrize(
    "job_id", ["", "../escape", "a/b", "x..y", "trailing.", "name.lock", "-flag", "sp ace"]
)
def test_unsafe_job_ids_are_rejected(make_repo, job_id: str) -> None:  # noqa: F811
    repo = make_repo()

    with pytest.raises(GitOperationError) as raised:
        snapshot_worktree(repo, job_id)

    assert raised.value.code == "invalid_job_id"


def test_not_a_repo(tmp_path: Path) -> None:
    with pytest.raises(GitOperationError) as raised:
        snapshot_worktree(tmp_path, "job")

    assert raised.value.code == "not_a_repo"
    assert "not a git repository" in raised.value.stderr


def test_resolve_commitish(make_repo) -> None:  # noqa: F811
    repo = make_repo()
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "tag", "-a", "v1", "-m", "annotated")

    assert resolve_commitish(repo, "HEAD") == head
    assert resolve_commitish(repo, "main") == head
    assert resolve_commitish(repo, head[:8]) == head
    assert resolve_commitish(repo, "v1") == head  # annotated tag peeled to its commit


@pytest.mark.parametrize("rev", ["no-such-branch", "HEAD~5", "--all", "", "HEAD^{tree}"])
def test_resolve_commitish_rejects_non_commits(make_repo, rev: str) -> None:  # noqa: F811
    repo = make_repo()

    with pytest.raises(GitOperationError) as raised:
        resolve_commitish(repo, rev)

    assert raised.value.code == "bad_revision"


def test_error_stderr_is_trimmed_to_its_last_2kb() -> None:
    error = GitOperationError("boom", stderr=b"noise\n" * 1000 + b"fatal: the real reason\n")

    assert error.code == "git_failed"
    assert len(error.stderr.encode()) <= 2048
    assert error.stderr.endswith("fatal: the real reason")
    assert str(error) == "boom"


def test_pin_commit_makes_a_named_base_fetchable(make_repo) -> None:  # noqa: F811
    repo = make_repo()
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/remotes/origin/topic", head)

    ref = pin_commit(repo, "pinned", "origin/topic")

    assert ref == SNAPSHOT_REF_PREFIX + "pinned"
    assert git(repo, "rev-parse", ref).strip() == head
