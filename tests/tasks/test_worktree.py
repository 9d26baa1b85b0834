"""The worker's mirror cache: fresh detached worktrees, safe under concurrent jobs."""

import hashlib
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from farm_core.git_cli import index_path, linked_git_dir, require_work_tree
from farm_core.git_errors import NOT_A_REPO, GitOperationError
from mcp_frontend.snapshot import snapshot_worktree
from tasks.worktree import WorktreeCache, used_marker
from tests.fixtures.git_repos import git


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def commit_file(repo: Path, rel: str, text: str) -> str:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"write {rel}")
    return head(repo)


def checkout_files(path: Path) -> dict[str, str]:
    return {
        file.relative_to(path).as_posix(): file.read_text()
        for file in path.rglob("*")
        if file.is_file() and ".git" not in file.relative_to(path).parts
    }


def commit_files(repo: Path, commit: str) -> dict[str, str]:
    names = git(repo, "ls-tree", "-r", "--name-only", commit).splitlines()
    return {name: git(repo, "show", f"{commit}:{name}") for name in names}


def registered_worktrees(mirror: Path) -> list[str]:
    listing = git(mirror, "worktree", "list", "--porcelain")
    return [line.removeprefix("worktree ") for line in listing.splitlines() if line.startswith("worktree ")]


@pytest.fixture
def cache(tmp_path: Path) -> WorktreeCache:
    return WorktreeCache(tmp_path / "cache")


@pytest.fixture
def source(make_repo) -> Path:  # noqa: F811
    return make_repo({"README.md": "# v1\n", "src/app.py": "print(1)\n"}, name="source")


def test_materialize_checks_out_the_commit_detached(cache: WorktreeCache, source: Path) -> None:
    commit = head(source)

    worktree = cache.materialize(str(source), commit, "job-1")

    assert (worktree.path, worktree.commit, worktree.job_id) == (
        cache.cache_dir / "worktrees" / "job-1",
        commit,
        "job-1",
    )
    assert worktree.owned.git_dir == cache.cache_dir / "owned" / "job-1.git"
    assert checkout_files(worktree.path) == commit_files(source, commit)
    assert head(worktree.path) == commit
    assert subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=worktree.path).returncode == 1
    assert git(worktree.path, "status", "--porcelain") == ""
    assert git(worktree.mirror, "for-each-ref", "--format=%(refname)", "refs/heads") == "refs/heads/main\n"
    assert git(worktree.mirror, "rev-parse", "--is-bare-repository").strip() == "true"
    assert used_marker(worktree.mirror).is_file()


def test_mirror_location_and_source_spellings(cache: WorktreeCache, source: Path, monkeypatch) -> None:
    mirror = cache.mirror_for(str(source))

    key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    assert mirror == cache.cache_dir / "mirrors" / f"{key}.git"
    assert git(mirror, "rev-parse", "refs/heads/main").strip() == head(source)
    monkeypatch.chdir(source.parent)
    assert cache.mirror_for(source.name) == mirror
    assert cache.mirrors() == [mirror]


def test_abandoned_mirror_init_is_cleaned_up(cache: WorktreeCache, source: Path) -> None:
    mirror = cache.mirror_path(str(source))
    abandoned = mirror.with_name(mirror.name + ".init-crashed")
    abandoned.mkdir(parents=True)

    assert cache.mirror_for(str(source)) == mirror
    assert not abandoned.exists()
    assert cache.mirrors() == [mirror]


def test_two_commits_side_by_side(cache: WorktreeCache, source: Path) -> None:
    first = head(source)
    second = commit_file(source, "README.md", "# v2\n")

    old = cache.materialize(str(source), first, "old")
    new = cache.materialize(str(source), second, "new")

    assert old.mirror == new.mirror
    assert (old.path / "README.md").read_text() == "# v1\n"
    assert (new.path / "README.md").read_text() == "# v2\n"
    assert sorted(registered_worktrees(old.mirror)[1:]) == sorted([str(new.path), str(old.path)])


def test_commit_made_after_mirror_creation_is_fetched(cache: WorktreeCache, source: Path) -> None:
    cache.mirror_for(str(source))
    later = commit_file(source, "later.txt", "later\n")

    worktree = cache.materialize(str(source), later, "later")

    assert (worktree.path / "later.txt").read_text() == "later\n"


def test_branch_name_is_refreshed_from_source(cache: WorktreeCache, source: Path) -> None:
    cache.materialize(str(source), "main", "before")
    moved = commit_file(source, "README.md", "# moved\n")

    worktree = cache.materialize(str(source), "main", "after")

    assert worktree.commit == moved


def test_snapshot_only_commit_is_fetchable(cache: WorktreeCache, source: Path) -> None:
    (source / "README.md").write_text("# uncommitted edit\n")
    (source / "brand new.txt").write_text("untracked\n")
    snapshot = snapshot_worktree(source, "snap-job")
    assert git(source, "branch", "--contains", snapshot.commit) == ""

    worktree = cache.materialize(str(source), snapshot.commit, "snap-job")

    assert (worktree.path / "README.md").read_text() == "# uncommitted edit\n"
    assert (worktree.path / "brand new.txt").read_text() == "untracked\n"


@pytest.mark.parametrize("commit", ["0" * 40, "no-such-branch", "-x", ""])
def test_missing_commit_is_bad_revision(cache: WorktreeCache, source: Path, commit: str) -> None:
    with pytest.raises(GitOperationError) as raised:
        cache.materialize(str(source), commit, "missing")

    assert raised.value.code == "bad_revision"
    assert not (cache.worktrees_dir / "missing").exists()


def test_unsafe_job_id_is_rejected(cache: WorktreeCache, source: Path) -> None:
    with pytest.raises(GitOperationError) as raised:
        cache.materialize(str(source), head(source), "../../etc")

    assert raised.value.code == "invalid_job_id"


def test_remove_is_idempotent(cache: WorktreeCache, source: Path) -> None:
    worktree = cache.materialize(str(source), head(source), "twice")
    (worktree.path / "agent-output.txt").write_text("dirty\n")
    (worktree.path / "README.md").write_text("modified\n")

    cache.remove(worktree)
    cache.remove(worktree)

    assert not worktree.path.exists()
    assert registered_worktrees(worktree.mirror) == [str(worktree.mirror)]


def test_remove_copes_with_read_only_leftovers(cache: WorktreeCache, source: Path) -> None:
    worktree = cache.materialize(str(source), head(source), "readonly")
    locked = worktree.path / "vendor" / "pkg"
    locked.mkdir(parents=True)
    (locked / "mod.go").write_text("package pkg\n")
    (locked / "mod.go").chmod(0o444)
    locked.chmod(0o555)

    cache.remove(worktree)

    assert not worktree.path.exists()
    assert registered_worktrees(worktree.mirror) == [str(worktree.mirror)]


def test_retried_job_replaces_its_leftover(cache: WorktreeCache, source: Path) -> None:
    first = cache.materialize(str(source), head(source), "retry")
    (first.path / "half-done.txt").write_text("from the crashed attempt\n")

    second = cache.materialize(str(source), head(source), "retry")

    assert second.path == first.path
    assert not (second.path / "half-done.txt").exists()
    assert registered_worktrees(second.mirror) == [str(second.mirror), str(second.path)]


def test_prune_stale_removes_leftovers_and_metadata(cache: WorktreeCache, source: Path) -> None:
    crashed = cache.materialize(str(source), head(source), "crashed")
    active = cache.materialize(str(source), head(source), "active")
    (cache.worktrees_dir / "junk").mkdir()

    removed = cache.prune_stale({"active"})

    assert removed == ["crashed", "junk"]
    assert not crashed.path.exists() and active.path.is_dir()
    assert registered_worktrees(active.mirror) == [str(active.mirror), str(active.path)]

    assert cache.prune_stale(set()) == ["active"]
    assert registered_worktrees(active.mirror) == [str(active.mirror)]
    assert list(cache.worktrees_dir.iterdir()) == []


def test_prune_stale_on_empty_cache(cache: WorktreeCache) -> None:
    assert cache.prune_stale(set()) == []


def test_concurrent_threads(cache: WorktreeCache, source: Path) -> None:
    first = head(source)
    second = commit_file(source, "README.md", "# v2\n")
    expected_readme = {first: "# v1\n", second: "# v2\n"}

    def job(number: int) -> str:
        commit = (first, second)[number % 2]
        worktree = cache.materialize(str(source), commit, f"thread-{number}")
        readme = (worktree.path / "README.md").read_text()
        (worktree.path / "scratch.txt").write_text(str(number))
        cache.remove(worktree)
        return readme if readme == expected_readme[commit] else f"wrong content for {commit}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(8)))

    assert results == [("# v1\n", "# v2\n")[number % 2] for number in range(8)]
    assert list(cache.worktrees_dir.iterdir()) == []
    [mirror] = cache.mirrors()
    assert registered_worktrees(mirror) == [str(mirror)]


PROCESS_JOB = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tasks.worktree import WorktreeCache

    cache_dir, source, commit, prefix = sys.argv[1:]
    cache = WorktreeCache(Path(cache_dir))
    for round in range(3):
        worktree = cache.materialize(source, commit, f"{prefix}-{round}")
        assert (worktree.path / "README.md").read_text() == "# v1\\n"
        cache.remove(worktree)
    """
)


def test_concurrent_processes(cache: WorktreeCache, source: Path) -> None:
    commit = head(source)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_JOB, str(cache.cache_dir), str(source), commit, f"proc{number}"],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for number in range(4)
    ]
    outcomes = [(worker.wait(timeout=60), worker.stderr.read().decode()) for worker in workers]
    for worker in workers:
        worker.stdout.close()
        worker.stderr.close()

    assert [code for code, _ in outcomes] == [0, 0, 0, 0], [err for _, err in outcomes]
    assert not any("lock" in err for _, err in outcomes)
    assert list(cache.worktrees_dir.iterdir()) == []
    [mirror] = cache.mirrors()
    assert registered_worktrees(mirror) == [str(mirror)]


def test_index_path_of_a_linked_worktree_is_read_without_git(make_repo, tmp_path: Path) -> None:  # noqa: F811
    source = make_repo({"a.txt": "a\n"}, name="index-source")
    worktree = WorktreeCache(tmp_path / "cache").materialize(
        str(source), git(source, "rev-parse", "HEAD").strip(), "idx-job"
    )

    for top in (source, worktree.path):
        expected = (top / git(top, "rev-parse", "--git-path", "index").strip()).resolve()
        assert index_path(top).resolve() == expected and expected.is_file()


def test_require_work_tree_inside_the_git_folder_is_not_a_repo(make_repo) -> None:  # noqa: F811
    repo = make_repo({"a.txt": "a\n"}, name="dot-git")
    (repo / "sub").mkdir()
    assert require_work_tree(repo / "sub").resolve() == repo.resolve()
    with pytest.raises(GitOperationError) as raised:
        require_work_tree(repo / ".git")
    assert raised.value.code == NOT_A_REPO and "not inside a git working tree" in str(raised.value)


# noqa: F811
def test_a_mirror_of_a_repo_on_this_machine_borrows_its_objects_instead_of_fetching(
    make_repo, tmp_path: Path
) -> None:
    source = make_repo({"a.txt": "a\n"}, name="borrowed")
    cache = WorktreeCache(tmp_path / "cache")
    commits = []
    for n in range(2):
        (source / "a.txt").write_text(f"snapshot {n}\n")
        commits.append(snapshot_worktree(source, f"borrow-{n}").commit)

    for n, commit in enumerate(commits):
        worktree = cache.materialize(str(source), commit, f"borrow-job-{n}", borrow=True)
        assert (worktree.path / "a.txt").read_text() == f"snapshot {n}\n"
        cache.remove(worktree)

    mirror = cache.mirror_path(str(source))
    alternates = (mirror / "objects" / "info" / "alternates").read_text().strip()
    assert Path(alternates).resolve() == (source / ".git" / "objects").resolve()
    assert git(mirror, "for-each-ref") == ""  # nothing was fetched: no refs, no copied snapshots
    assert git(mirror, "count-objects").startswith("0 objects")


def test_the_admin_dir_comes_from_the_worktrees_git_file(tmp_path):
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {tmp_path}/mirror.git/worktrees/wt\n")
    assert linked_git_dir(tmp_path / "wt") == tmp_path / "mirror.git" / "worktrees" / "wt"
    (tmp_path / "wt" / ".git").write_text("gitdir: ../mirror.git/worktrees/wt\n")
    assert linked_git_dir(tmp_path / "wt") == tmp_path / "mirror.git" / "worktrees" / "wt"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / ".git").mkdir()
    assert linked_git_dir(tmp_path / "plain") is None
