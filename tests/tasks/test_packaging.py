"""Packaging an agent's work: changed paths, the result commit, an exact patch, stats, trimming."""

import subprocess
from pathlib import Path

import pytest

from farm_core.git_errors import GitOperationError
from farm_core.patch_text import trim_diff
from tasks.packaging import (
    FileStat,
    binary_patch,
    changed_files,
    commit_result,
    commit_tree,
    diff_stats,
    working_tree_id,
)
from tasks.worktree import WorktreeCache
from tests.fixtures.git_repos import git

BINARY_V1 = bytes(range(256)) * 8
BINARY_V2 = b"\x00\x01PNG\x00" + bytes(reversed(range(256))) * 8 + b"\x00"


def git_bytes(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, input=input).stdout


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(make_repo) -> Path:  # noqa: F811
    """A detached checkout, like a materialized worktree."""
    path = make_repo(
        {
            "keep.txt": "keep\n",
            "edit.txt": "one\ntwo\nthree\n",
            "gone.txt": "bye\n",
            "old name.txt": "moving\n" * 20,
            ".gitignore": "*.tmp\n",
        }
    )
    (path / "image.bin").write_bytes(BINARY_V1)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "binary")
    git(path, "checkout", "-q", "--detach")
    return path


def test_nothing_changed(repo: Path) -> None:
    before = head(repo)
    (repo / "scratch.tmp").write_text("ignored\n")

    assert changed_files(repo) == []
    assert commit_result(repo, "job-1", "nothing") is None
    assert head(repo) == before


def test_changed_files_covers_every_kind_of_change(repo: Path) -> None:
    (repo / "edit.txt").write_text("one\n2\nthree\n")
    (repo / "gone.txt").unlink()
    git(repo, "mv", "old name.txt", "new näme.txt")
    (repo / "new dir/deeper").mkdir(parents=True)
    (repo / "new dir/deeper/ünï côde.py").write_text("x = 1\n")
    (repo / "line\nbreak.txt").write_text("odd name\n")
    (repo / "ignored.tmp").write_text("ignored\n")
    index_before = git(repo, "ls-files", "-s")

    files = changed_files(repo)

    assert files == sorted(
        [
            "edit.txt",
            "gone.txt",
            "line\nbreak.txt",
            "new dir/deeper/ünï côde.py",
            "new näme.txt",
            "old name.txt",
        ]
    )
    assert git(repo, "ls-files", "-s") == index_before  # asking does not stage


def test_changed_files_follows_disk_not_index(repo: Path) -> None:
    (repo / "edit.txt").write_text("staged\n")
    git(repo, "add", "edit.txt")
    (repo / "edit.txt").write_text("one\ntwo\nthree\n")  # back to HEAD's content

    assert changed_files(repo) == []


def test_commit_result(repo: Path) -> None:
    parent = head(repo)
    (repo / "edit.txt").write_text("one\n2\nthree\n")
    (repo / "new dir").mkdir()
    (repo / "new dir/file with space.txt").write_text("hi\n")
    (repo / "gone.txt").unlink()
    expected_files = changed_files(repo)

    result = commit_result(repo, "job-7", "Fix the thing")

    assert result is not None
    assert result.parent == parent
    assert result.files == expected_files == ["edit.txt", "gone.txt", "new dir/file with space.txt"]
    assert head(repo) == result.commit
    assert subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo).returncode == 1  # still detached
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%P").strip() == (
        f"codex-farm <codex-farm@localhost>|codex-farm <codex-farm@localhost>|{parent}"
    )
    assert git(repo, "log", "-1", "--format=%B").strip() == "Fix the thing\n\nCodex-Farm-Job: job-7"


def test_commit_result_on_a_branch_advances_it(make_repo) -> None:  # noqa: F811
    repo = make_repo({"a.txt": "a\n"})
    (repo / "a.txt").write_text("b\n")

    result = commit_result(repo, "job-b", "")

    assert result is not None
    assert git(repo, "rev-parse", "main").strip() == result.commit
    assert git(repo, "log", "-1", "--format=%s").strip() == "codex-farm result job-b"


def test_commit_result_folds_in_the_agents_own_commits(repo: Path) -> None:
    snapshot = head(repo)
    (repo / "committed.txt").write_text("agent committed this\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "agent commit")
    (repo / "edit.txt").write_text("uncommitted\n")

    assert changed_files(repo, base=snapshot) == ["committed.txt", "edit.txt"]
    result = commit_result(repo, "job-8", "squashed", base=snapshot)

    assert result is not None
    assert result.parent == snapshot
    assert result.files == ["committed.txt", "edit.txt"]
    assert head(repo) == result.commit


def test_commit_tree_commits_a_written_tree_and_moves_nothing(repo: Path) -> None:
    parent = head(repo)
    (repo / "edit.txt").write_text("one\n2\nthree\n")
    (repo / "new.txt").write_text("new\n")
    index_before = git(repo, "ls-files", "-s")
    tree = working_tree_id(repo)

    assert changed_files(repo, base=parent, tree=tree) == ["edit.txt", "new.txt"]
    commit = commit_tree(repo, "job-9", "plumbing", parent, tree)

    assert git(repo, "rev-parse", f"{commit}^{{tree}}").strip() == tree
    assert git(repo, "rev-parse", f"{commit}^").strip() == parent
    assert git(repo, "log", "-1", "--format=%B", commit).strip() == "plumbing\n\nCodex-Farm-Job: job-9"
    assert head(repo) == parent and git(repo, "ls-files", "-s") == index_before  # no ref, no index moved


def test_changed_files_against_a_given_tree_ignores_the_disk(repo: Path) -> None:
    (repo / "edit.txt").write_text("changed\n")
    tree = working_tree_id(repo)
    (repo / "later.txt").write_text("written after the tree was taken\n")

    assert changed_files(repo, base=head(repo), tree=tree) == ["edit.txt"]
    assert changed_files(repo, base=head(repo)) == ["edit.txt", "later.txt"]


def test_bad_base_is_bad_revision(repo: Path) -> None:
    with pytest.raises(GitOperationError) as raised:
        changed_files(repo, base="no-such-commit")

    assert raised.value.code == "bad_revision"


def make_all_kinds_of_changes(repo: Path) -> None:
    (repo / "image.bin").write_bytes(BINARY_V2)
    (repo / "new dir").mkdir()
    (repo / "new dir/blob ü.bin").write_bytes(b"\x00" * 64 + b"\xff\xfe")
    (repo / "edit.txt").write_text("one\n2\nthree\nfour\n")
    (repo / "gone.txt").unlink()
    git(repo, "mv", "old name.txt", "renamed.txt")
    (repo / "keep.txt").chmod(0o755)
    (repo / "link").symlink_to("keep.txt")


def test_binary_patch_round_trips(repo: Path, tmp_path: Path) -> None:
    make_all_kinds_of_changes(repo)
    result = commit_result(repo, "job-bin", "binary work")
    assert result is not None

    patch = binary_patch(repo, result.parent, result.commit)

    assert b"GIT binary patch" in patch
    for apply_args in (["apply", "--index"], ["apply", "--3way"]):
        clone = tmp_path / f"clone-{apply_args[-1].strip('-')}"
        git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
        git(clone, "checkout", "-q", "--detach", result.parent)
        git_bytes(clone, *apply_args, "-", input=patch)
        git(clone, "add", "-A")
        assert git(clone, "write-tree") == git(repo, "rev-parse", f"{result.commit}^{{tree}}")
        assert (clone / "image.bin").read_bytes() == BINARY_V2


def test_binary_patch_from_a_materialized_worktree(make_repo, tmp_path: Path) -> None:  # noqa: F811
    source = make_repo({"data.bin": "placeholder\n"}, name="source")
    cache = WorktreeCache(tmp_path / "cache")
    worktree = cache.materialize(str(source), head(source), "wt-job")
    (worktree.path / "data.bin").write_bytes(BINARY_V1)

    result = commit_result(worktree.path, "wt-job", "write binary")
    assert result is not None and result.parent == worktree.commit
    patch = binary_patch(worktree.path, result.parent, result.commit)

    git_bytes(source, "apply", "--index", "-", input=patch)
    assert git(source, "write-tree") == git(worktree.path, "rev-parse", f"{result.commit}^{{tree}}")


def test_patch_ignores_user_diff_config(repo: Path) -> None:
    git(repo, "config", "diff.noprefix", "true")
    git(repo, "config", "diff.external", "false")
    (repo / "edit.txt").write_text("changed\n")
    result = commit_result(repo, "job-cfg", "config")
    assert result is not None

    patch = binary_patch(repo, result.parent, result.commit)

    assert patch.startswith(b"diff --git a/edit.txt b/edit.txt\n")


def test_diff_stats(repo: Path) -> None:
    make_all_kinds_of_changes(repo)
    result = commit_result(repo, "job-stats", "stats")
    assert result is not None

    stats = diff_stats(repo, result.parent, result.commit)

    assert [stat.path for stat in stats] == result.files
    by_path = {stat.path: stat for stat in stats}
    assert by_path["edit.txt"] == FileStat("edit.txt", added=2, deleted=1)
    assert by_path["gone.txt"] == FileStat("gone.txt", added=0, deleted=1)
    assert by_path["image.bin"] == FileStat("image.bin", added=None, deleted=None)
    assert by_path["new dir/blob ü.bin"] == FileStat("new dir/blob ü.bin", added=None, deleted=None)
    assert by_path["old name.txt"].deleted == 20 and by_path["renamed.txt"].added == 20
    assert by_path["keep.txt"] == FileStat("keep.txt", added=0, deleted=0)  # mode change only


PATCH = b"aaa\nbbb\nccc\n"


@pytest.mark.parametrize(
    ("max_bytes", "expected"),
    [
        (100, "aaa\nbbb\nccc\n"),
        (12, "aaa\nbbb\nccc\n"),
        (11, "aaa\nbbb\n… diff trimmed: 8 of 12 bytes shown\n"),
        (8, "aaa\nbbb\n… diff trimmed: 8 of 12 bytes shown\n"),
        (7, "aaa\n… diff trimmed: 4 of 12 bytes shown\n"),
        (3, "… diff trimmed: 0 of 12 bytes shown\n"),
        (0, "… diff trimmed: 0 of 12 bytes shown\n"),
    ],
)
def test_trim_diff_boundaries(max_bytes: int, expected: str) -> None:
    assert trim_diff(PATCH, max_bytes) == expected


def test_trim_diff_never_splits_characters() -> None:
    patch = "ü\n".encode() * 3 + b"\xff\n"

    assert trim_diff(patch, 100) == "ü\nü\nü\n\ufffd\n"
    assert trim_diff(patch, 7) == "ü\nü\n… diff trimmed: 6 of 11 bytes shown\n"


def test_trim_diff_empty_patch() -> None:
    assert trim_diff(b"", 0) == ""
