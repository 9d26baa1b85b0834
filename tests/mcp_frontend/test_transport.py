"""The frontend's side of the transports: which one `start` picks, and what it ships."""

import subprocess
from pathlib import Path

import pytest

from farm_core.settings import FarmSettings
from mcp_frontend.errors import BundleTooLarge, TransportFailed
from mcp_frontend.snapshot import pin_commit, snapshot_worktree
from mcp_frontend.transport import choose_transport, prepare_source, redis_is_local
from tests.fixtures.git_repos import git
from tests.fixtures.transport_repos import clone_with_local_work, make_origin


def settings(**fields) -> FarmSettings:
    values = {
        "redis_url": "redis://127.0.0.1:6379/0",
        "transport": "auto",
        "shared_fs": None,
        "git_remote": None,
    }
    return FarmSettings(**{**values, **fields})


def bundle_header(bundle: bytes) -> list[str]:
    return bundle.split(b"\n\n", 1)[0].decode().splitlines()


def ref_exists(repo: Path, ref: str) -> bool:
    return (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", ref], cwd=repo, capture_output=True
        ).returncode
        == 0
    )


@pytest.fixture
def caller(tmp_path: Path) -> Path:
    """A clone of an origin (with some history) carrying two unpushed commits and uncommitted edits."""
    return clone_with_local_work(make_origin(tmp_path, blob_bytes=20_000), tmp_path / "caller")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "path"),  # loopback Redis: every worker runs on this machine
        ({"redis_url": "redis://localhost:6379/0"}, "path"),
        ({"redis_url": "redis://[::1]:6379/0"}, "path"),
        ({"redis_url": "unix:///run/redis.sock"}, "path"),
        ({"redis_url": "rediss://:secret@buildbox.example:6380/0"}, "bundle"),
        ({"redis_url": "redis://10.0.0.5:6379/0"}, "bundle"),
        ({"shared_fs": False}, "bundle"),
        ({"redis_url": "redis://buildbox.example:6379/0", "shared_fs": True}, "path"),
        ({"git_remote": "origin"}, "remote"),
        ({"git_remote": "origin", "transport": "bundle"}, "bundle"),
        ({"transport": "remote"}, "remote"),
        ({"redis_url": "redis://buildbox.example:6379/0", "transport": "path"}, "path"),
    ],
)
def test_auto_picks_remote_then_shared_path_then_bundle(fields: dict, expected: str) -> None:
    assert choose_transport(settings(**fields)) == expected


def test_loopback_detection() -> None:
    assert redis_is_local("redis://127.0.0.2:6379")
    assert not redis_is_local("redis://redis:6379")


def test_path_transport_ships_nothing(caller: Path) -> None:
    snapshot = snapshot_worktree(caller, "job-path")

    prepared = prepare_source(caller, "job-path", snapshot.commit, settings(transport="path"), "laptop")

    assert prepared.bundle is None
    assert prepared.source.transport == "path"
    assert prepared.source.location == str(caller)
    assert prepared.source.origin_host == "laptop"


def test_bundle_with_origin_is_the_delta_over_origin(caller: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    snapshot = snapshot_worktree(caller, "job-delta")

    prepared = prepare_source(
        caller, "job-delta", snapshot.commit, settings(transport="bundle", key_prefix="farm:"), "laptop"
    )

    source, bundle = prepared.source, prepared.bundle
    assert source.transport == "bundle"
    assert source.origin_url == str(origin)
    assert source.repo_id is None
    assert source.snapshot_ref == "refs/codex-farm/snapshots/job-delta"
    assert source.bundle_key == "farm:job:job-delta:bundle"
    assert source.bundle_bytes == len(bundle)
    origin_main = git(caller, "rev-parse", "origin/main").strip()
    header = bundle_header(bundle)
    assert header[1:] == [
        f"-{origin_main} history 2",
        f"{snapshot.commit} refs/codex-farm/snapshots/job-delta",
    ]
    # Three commits (two local + the snapshot) over a 60 KB origin: small.
    assert len(bundle) < 5_000
    # What a worker does: origin first, then the bundle on top.
    worker = tmp_path / "worker.git"
    git(tmp_path, "init", "-q", "--bare", str(worker))
    git(worker, "fetch", "-q", str(origin), "+refs/heads/*:refs/heads/*")
    (tmp_path / "b.bundle").write_bytes(bundle)
    git(worker, "fetch", "-q", str(tmp_path / "b.bundle"), "+refs/codex-farm/*:refs/codex-farm/*")
    assert git(worker, "rev-parse", "refs/codex-farm/snapshots/job-delta").strip() == snapshot.commit


def test_bundle_without_origin_holds_the_whole_history(make_repo) -> None:  # noqa: F811
    repo = make_repo({"README.md": "# one\n"})
    root = git(repo, "rev-parse", "HEAD").strip()
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt")
    git(repo, "commit", "-q", "-m", "second")
    (repo / "untracked.txt").write_text("u\n")
    snapshot = snapshot_worktree(repo, "job-whole")

    prepared = prepare_source(repo, "job-whole", snapshot.commit, settings(transport="bundle"), "laptop")

    assert prepared.source.origin_url is None
    assert prepared.source.repo_id == root
    header = bundle_header(prepared.bundle)
    assert not [line for line in header if line.startswith("-")]  # no prerequisites
    empty = repo.parent / "empty.git"
    git(repo.parent, "init", "-q", "--bare", str(empty))
    (repo.parent / "w.bundle").write_bytes(prepared.bundle)
    git(empty, "fetch", "-q", str(repo.parent / "w.bundle"), "+refs/codex-farm/*:refs/codex-farm/*")
    assert git(empty, "show", f"{snapshot.commit}:untracked.txt") == "u\n"


def test_bundle_over_the_cap_fails_naming_both_settings_and_drops_the_ref(make_repo) -> None:  # noqa: F811
    repo = make_repo({"big.txt": "x" * 5000})
    snapshot = snapshot_worktree(repo, "job-big")

    with pytest.raises(BundleTooLarge) as caught:
        prepare_source(
            repo, "job-big", snapshot.commit, settings(transport="bundle", bundle_max_bytes=100), "laptop"
        )

    error = caught.value.as_dict()
    assert error["code"] == "bundle_too_large"
    assert "FARM_BUNDLE_MAX_BYTES (100 bytes)" in error["message"]
    assert "FARM_GIT_REMOTE" in error["message"]
    assert "whole" in error["message"] or "all the history" in error["message"]
    size = int(error["message"].split("bundle is ")[1].split(" bytes")[0])
    assert size > 100
    assert not ref_exists(repo, "refs/codex-farm/snapshots/job-big")


def test_no_bundle_when_origin_already_has_the_snapshot(caller: Path) -> None:
    commit = git(caller, "rev-parse", "origin/main").strip()
    pin_commit(caller, "job-pushed", commit)

    prepared = prepare_source(caller, "job-pushed", commit, settings(transport="bundle"), "laptop")

    assert prepared.bundle is None
    assert prepared.source.bundle_key is None and prepared.source.bundle_bytes == 0
    assert prepared.source.origin_url


def test_remote_pushes_the_snapshot_under_the_job_ref(caller: Path, tmp_path: Path) -> None:
    remote = tmp_path / "scratch.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    snapshot = snapshot_worktree(caller, "job-remote")

    prepared = prepare_source(
        caller, "job-remote", snapshot.commit, settings(git_remote=str(remote)), "laptop"
    )

    assert prepared.bundle is None
    assert prepared.source.transport == "remote"
    assert prepared.source.remote_url == str(remote)
    assert git(remote, "rev-parse", "refs/codex-farm/snapshots/job-remote").strip() == snapshot.commit


def test_remote_may_be_a_remote_name_of_the_repo(caller: Path, tmp_path: Path) -> None:
    snapshot = snapshot_worktree(caller, "job-named")

    prepared = prepare_source(caller, "job-named", snapshot.commit, settings(git_remote="origin"), "laptop")

    assert prepared.source.remote_url == str(tmp_path / "origin.git")
    assert (
        git(tmp_path / "origin.git", "rev-parse", "refs/codex-farm/snapshots/job-named").strip()
        == snapshot.commit
    )


def test_remote_failures_are_structured(caller: Path, tmp_path: Path) -> None:
    snapshot = snapshot_worktree(caller, "job-nowhere")
    with pytest.raises(TransportFailed, match="needs FARM_GIT_REMOTE"):
        prepare_source(caller, "job-nowhere", snapshot.commit, settings(transport="remote"), "laptop")

    snapshot = snapshot_worktree(caller, "job-nowhere")
    with pytest.raises(TransportFailed, match="could not push the snapshot to FARM_GIT_REMOTE") as caught:
        prepare_source(
            caller,
            "job-nowhere",
            snapshot.commit,
            settings(git_remote=str(tmp_path / "missing.git")),
            "laptop",
        )
    assert caught.value.code == "transport_failed"
    assert not ref_exists(caller, "refs/codex-farm/snapshots/job-nowhere")


def test_origin_url_is_sent_without_credentials_and_relative_paths_made_absolute(
    caller: Path, tmp_path: Path
) -> None:
    git(caller, "remote", "set-url", "origin", "https://user:hunter2@git.example/o/r.git")
    git(caller, "remote", "add", "mirror", "../origin.git")
    snapshot = snapshot_worktree(caller, "job-creds")

    prepared = prepare_source(
        caller, "job-creds", snapshot.commit, settings(transport="path", git_remote="mirror"), "laptop"
    )
    assert prepared.source.origin_url == "https://git.example/o/r.git"

    prepared = prepare_source(caller, "job-creds", snapshot.commit, settings(git_remote="mirror"), "laptop")
    assert prepared.source.remote_url == str(tmp_path / "origin.git")
