"""The worker's side of the transports: worktrees from a path, origin + bundle, or a git remote."""

import shutil
import subprocess
from pathlib import Path

import pytest

from farm_core.job_models import JobSpec, RepoSource
from farm_core.settings import FarmSettings
from mcp_frontend.snapshot import pin_commit, snapshot_worktree
from mcp_frontend.transport import prepare_source
from tasks.packaging import commit_result
from tasks.repo_fetch import (
    REPO_ID_SCHEME,
    SourceUnavailable,
    bundle_prerequisites,
    materialize_job,
    push_result,
)
from tasks.worktree import WorktreeCache
from tests.fixtures.git_repos import git
from tests.fixtures.transport_repos import clone_with_local_work, commit_all, make_origin, manifest


class FakeStore:
    """The one store method the worker's bundle fetch uses."""

    def __init__(self) -> None:
        self.bundles: dict[str, bytes] = {}
        self.loads = 0

    def load_bundle(self, job_id: str) -> bytes | None:
        self.loads += 1
        return self.bundles.get(job_id)


def settings(**fields) -> FarmSettings:
    return FarmSettings(**{"transport": "bundle", "shared_fs": None, "git_remote": None, **fields})


def ship(repo: Path, job_id: str, store: FakeStore, commit: str | None = None, **fields) -> JobSpec:
    """What `start` does: snapshot (or pin commit), prepare the transport, store the bundle."""
    if commit is None:
        commit = snapshot_worktree(repo, job_id).commit
    else:
        pin_commit(repo, job_id, commit)
    prepared = prepare_source(repo, job_id, commit, settings(**fields), "laptop")
    if prepared.bundle is not None:
        store.bundles[job_id] = prepared.bundle
    return JobSpec(
        job_id=job_id,
        prompt="p",
        source=prepared.source,
        snapshot_commit=commit,
        timeout_ms=60_000,
        created_at=0.0,
    )


def worktree_manifest_of_commit(repo: Path, commit: str, scratch: Path) -> str:
    scratch.mkdir()
    subprocess.run(f"git archive {commit} | tar -x -C {scratch}", shell=True, cwd=repo, check=True)
    return manifest(scratch)


@pytest.fixture
def cache(tmp_path: Path) -> WorktreeCache:
    return WorktreeCache(tmp_path / "cache")


@pytest.fixture
def caller(tmp_path: Path) -> Path:
    return clone_with_local_work(make_origin(tmp_path), tmp_path / "caller")


def test_bundle_job_gets_the_callers_working_tree(cache: WorktreeCache, caller: Path, tmp_path: Path) -> None:
    store = FakeStore()
    spec = ship(caller, "job-1", store)

    worktree = materialize_job(cache, spec, store)

    assert manifest(worktree.path) == manifest(caller)
    assert worktree.commit == spec.snapshot_commit
    assert worktree.mirror == cache.mirror_path(str(tmp_path / "origin.git"))
    # Origin's branches came from origin, the snapshot from the bundle.
    assert (
        git(worktree.mirror, "rev-parse", "refs/heads/main").strip()
        == git(caller, "rev-parse", "origin/main").strip()
    )
    assert (
        git(worktree.mirror, "rev-parse", "refs/codex-farm/snapshots/job-1").strip() == spec.snapshot_commit
    )


def test_origin_is_not_fetched_again_when_the_mirror_has_the_prerequisites(
    cache: WorktreeCache, caller: Path, tmp_path: Path
) -> None:
    store = FakeStore()
    first = materialize_job(cache, ship(caller, "job-a", store), store)
    cache.remove(first)
    shutil.move(tmp_path / "origin.git", tmp_path / "gone.git")  # origin unreachable from now on
    (caller / "more.txt").write_text("more\n")
    commit_all(caller, "local 3")

    spec = ship(caller, "job-b", store)
    worktree = materialize_job(cache, spec, store)

    assert manifest(worktree.path) == manifest(caller)


# noqa: F811
def test_bundle_job_without_origin_uses_a_mirror_named_by_the_root_commit(
    cache: WorktreeCache, make_repo
) -> None:
    repo = make_repo({"README.md": "# r\n", "src/a.py": "A = 1\n"})
    root = git(repo, "rev-parse", "HEAD").strip()
    (repo / "new.txt").write_text("untracked\n")
    store = FakeStore()

    spec = ship(repo, "job-w", store)
    worktree = materialize_job(cache, spec, store)

    assert spec.source.origin_url is None
    assert worktree.mirror == cache.mirror_path(REPO_ID_SCHEME + root)
    assert manifest(worktree.path) == manifest(repo)
    # A second job of the same repo reuses the mirror.
    (repo / "new.txt").write_text("changed\n")
    again = materialize_job(cache, ship(repo, "job-w2", store), store)
    assert again.mirror == worktree.mirror
    assert (again.path / "new.txt").read_text() == "changed\n"


def test_redelivered_job_materializes_again(cache: WorktreeCache, caller: Path) -> None:
    store = FakeStore()
    spec = ship(caller, "job-r", store)
    materialize_job(cache, spec, store)

    again = materialize_job(cache, spec, store)  # the leftover of the first attempt is replaced

    assert manifest(again.path) == manifest(caller)
    assert store.loads == 1  # the commit was already in the mirror: no second fetch


def test_bundle_gone_from_redis_is_a_clear_failure(cache: WorktreeCache, caller: Path) -> None:
    store = FakeStore()
    spec = ship(caller, "job-x", store)
    store.bundles.clear()

    with pytest.raises(SourceUnavailable, match="no longer in Redis.*FARM_JOB_TTL_S"):
        materialize_job(cache, spec, store)


def test_bundle_on_commits_origin_no_longer_has(cache: WorktreeCache, caller: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    store = FakeStore()
    spec = ship(caller, "job-rw", store)
    # Origin's main is rewritten after the caller fetched: the bundle's prerequisite is gone from it.
    first = git(origin, "rev-list", "--max-parents=0", "main").strip()
    git(origin, "update-ref", "refs/heads/main", first)

    with pytest.raises(SourceUnavailable, match="lacks 1 commit.*git fetch origin.*FARM_TRANSPORT=remote"):
        materialize_job(cache, spec, store)


def test_unreachable_origin_names_it(cache: WorktreeCache, caller: Path, tmp_path: Path) -> None:
    store = FakeStore()
    spec = ship(caller, "job-u", store)
    shutil.move(tmp_path / "origin.git", tmp_path / "moved.git")

    with pytest.raises(
        SourceUnavailable, match=r"could not fetch origin .*origin\.git.*own credentials"
    ) as caught:
        materialize_job(cache, spec, store)
    assert caught.value.code == "source_unavailable"


def test_snapshot_already_on_origin_needs_no_bundle(cache: WorktreeCache, caller: Path) -> None:
    store = FakeStore()
    commit = git(caller, "rev-parse", "origin/main").strip()
    spec = ship(caller, "job-o", store, commit=commit)

    worktree = materialize_job(cache, spec, store)

    assert spec.source.bundle_key is None and store.loads == 0
    assert worktree.commit == commit


def test_remote_job_fetches_the_ref_and_pushes_the_result(
    cache: WorktreeCache, caller: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "scratch.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    store = FakeStore()
    spec = ship(caller, "job-rm", store, transport="remote", git_remote=str(remote))

    worktree = materialize_job(cache, spec, store)
    assert manifest(worktree.path) == manifest(caller)
    assert worktree.mirror == cache.mirror_path(str(remote))

    (worktree.path / "result.txt").write_text("done\n")
    result = commit_result(worktree.owned, spec.job_id, "result", base=worktree.commit)
    lines: list[tuple[str, str]] = []
    assert push_result(
        spec, worktree.owned.git_dir, result.commit, lambda kind, text: lines.append((kind, text))
    )
    assert git(remote, "rev-parse", "refs/codex-farm/results/job-rm").strip() == result.commit
    assert "result pushed to refs/codex-farm/results/job-rm" in lines[-1][1]


def test_result_push_is_best_effort_and_only_for_remote_jobs(
    cache: WorktreeCache, caller: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "scratch.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    store = FakeStore()
    spec = ship(caller, "job-be", store, transport="remote", git_remote=str(remote))
    worktree = materialize_job(cache, spec, store)
    lines: list[str] = []
    shutil.rmtree(remote)

    assert not push_result(
        spec, worktree.owned.git_dir, worktree.commit, lambda kind, text: lines.append(text)
    )
    assert "could not push the result" in lines[-1]

    bundle_spec = ship(caller, "job-nb", store)
    assert not push_result(
        bundle_spec, worktree.owned.git_dir, worktree.commit, lambda kind, text: lines.append(text)
    )


def test_path_job_the_worker_cannot_read_names_farm_transport(cache: WorktreeCache, tmp_path: Path) -> None:
    source = RepoSource(location=str(tmp_path / "elsewhere" / "repo"), origin_host="laptop")
    spec = JobSpec(
        job_id="job-p", prompt="p", source=source, snapshot_commit="a" * 40, timeout_ms=60_000, created_at=0.0
    )

    with pytest.raises(
        SourceUnavailable, match="not readable on this worker.*FARM_TRANSPORT=bundle or remote"
    ):
        materialize_job(cache, spec, FakeStore())


def test_path_job_still_works(cache: WorktreeCache, make_repo) -> None:  # noqa: F811
    repo = make_repo({"README.md": "# p\n"})
    store = FakeStore()
    spec = ship(repo, "job-pp", store, transport="path")

    worktree = materialize_job(cache, spec, store)

    assert worktree.mirror == cache.mirror_path(str(repo))
    assert manifest(worktree.path) == manifest(repo)


def test_the_snapshot_ref_comes_from_the_job_id(cache: WorktreeCache, caller: Path) -> None:
    store = FakeStore()
    spec = ship(caller, "job-ref", store)
    forged = spec.model_copy(
        update={"source": spec.source.model_copy(update={"snapshot_ref": "refs/heads/main"})}
    )

    with pytest.raises(SourceUnavailable, match="snapshot_ref must be refs/codex-farm/snapshots/job-ref"):
        materialize_job(cache, forged, store)


def test_bundle_prerequisites_are_read_from_the_header(caller: Path) -> None:
    store = FakeStore()
    ship(caller, "job-h", store)

    assert bundle_prerequisites(store.bundles["job-h"]) == [git(caller, "rev-parse", "origin/main").strip()]
    with pytest.raises(SourceUnavailable, match="not a git bundle"):
        bundle_prerequisites(b"PK\x03\x04 zip")


@pytest.mark.parametrize("field", ["origin_url", "remote_url"])
def test_urls_that_git_would_read_as_options_are_refused(
    cache: WorktreeCache, caller: Path, field: str
) -> None:
    store = FakeStore()
    spec = ship(caller, f"job-{field}", store, transport="bundle" if field == "origin_url" else "path")
    transport = "bundle" if field == "origin_url" else "remote"
    source = spec.source.model_copy(update={"transport": transport, field: "--upload-pack=touch /tmp/pwned"})
    spec = spec.model_copy(
        update={
            "source": source.model_copy(update={"snapshot_ref": f"refs/codex-farm/snapshots/job-{field}"})
        }
    )

    with pytest.raises(SourceUnavailable, match="not a usable git URL"):
        materialize_job(cache, spec, store)


def test_path_job_location_must_be_absolute(cache: WorktreeCache) -> None:
    source = RepoSource(location="-c", origin_host="laptop")
    spec = JobSpec(
        job_id="job-rel",
        prompt="p",
        source=source,
        snapshot_commit="a" * 40,
        timeout_ms=60_000,
        created_at=0.0,
    )

    with pytest.raises(SourceUnavailable, match="must be absolute"):
        materialize_job(cache, spec, FakeStore())
