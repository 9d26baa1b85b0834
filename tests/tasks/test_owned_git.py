"""After the agent, the worker's git reads its worktree through a git dir of the farm's own: a job that
points `.git` elsewhere, plants an fsmonitor, a hook or a filter runs nothing, and is told apart."""

import os
import stat
from pathlib import Path

import pytest

from farm_core.git_cli import git_env, no_exec_config_env, run_git_text
from tasks.packaging import binary_patch, changed_files, commit_tree, restore_working_tree, working_tree_id
from tasks.worktree import Worktree, WorktreeCache, make_owned_git, restore_mirror_config, tampering
from tests.fixtures.git_repos import git


@pytest.fixture
def worktree(tmp_path: Path, make_repo) -> Worktree:
    repo = make_repo({"src/ok.py": "ok = 1\n"})
    return WorktreeCache(tmp_path / "cache").materialize(
        str(repo), git(repo, "rev-parse", "HEAD").strip(), "job-owned"
    )


def hostile_program(home: Path, evidence: Path) -> Path:
    """A program that, if anyone runs it, writes who ran it and with what environment to `evidence`."""
    home.mkdir(parents=True, exist_ok=True)
    program = home / "h.sh"
    program.write_text(f"#!/bin/sh\n{{ id; env; }} >> {evidence}\ncat\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def redirect_git_dir(worktree: Worktree, home: Path, program: Path) -> None:
    """The attack as found: a bare git dir of the job's own, with an fsmonitor and hooks, named in `.git`."""
    fake = home / "fg"
    git(home, "init", "-q", "--bare", str(fake))
    admin = Path((worktree.path / ".git").read_text().removeprefix("gitdir:").strip())
    for name in ("HEAD", "index"):
        (fake / name).write_bytes((admin / name).read_bytes())
    (fake / "objects" / "info" / "alternates").write_text(f"{worktree.mirror / 'objects'}\n")
    git(fake, "config", "core.bare", "false")
    git(fake, "config", "core.fsmonitor", str(program))
    git(fake, "config", "core.hooksPath", str(home))
    (worktree.path / ".git").write_text(f"gitdir: {fake}\n")


def package(worktree: Worktree) -> list[str]:
    """Everything the worker's git does with a finished job: tree, files, patch, commit, restore."""
    tree = working_tree_id(worktree.owned)
    files = changed_files(worktree.owned, base=worktree.commit, tree=tree)
    commit = commit_tree(worktree.owned, worktree.job_id, "result", worktree.commit, tree)
    binary_patch(worktree.owned, worktree.commit, commit)
    restore_working_tree(worktree.owned, tree)
    return files


def test_a_redirected_dot_git_with_an_fsmonitor_runs_nothing_and_is_reported(worktree, tmp_path):
    evidence = tmp_path / "evidence.txt"
    home = tmp_path / "home"
    redirect_git_dir(worktree, home, hostile_program(home, evidence))
    (worktree.path / "src" / "ok.py").write_text("ok = 2\n")

    files = package(worktree)

    assert not evidence.exists(), evidence.read_text()
    assert files == ["src/ok.py"]
    assert tampering(worktree) == "the worktree's .git file was changed"


def test_the_same_attack_runs_the_program_through_the_worktrees_own_git(worktree, tmp_path):
    """What the farm's git avoids: plain git in the worktree, as a check or a developer would run it."""
    evidence = tmp_path / "evidence.txt"
    home = tmp_path / "home"
    redirect_git_dir(worktree, home, hostile_program(home, evidence))

    git(worktree.path, "status", "--porcelain")

    assert evidence.exists()


def test_checks_that_run_git_in_the_tampered_worktree_run_no_fsmonitor(worktree, tmp_path):
    evidence = tmp_path / "evidence.txt"
    home = tmp_path / "home"
    redirect_git_dir(worktree, home, hostile_program(home, evidence))

    run_git_text(worktree.path, "status", "--porcelain", env=no_exec_config_env())

    assert not evidence.exists()


def test_a_filter_planted_in_the_mirror_config_runs_nothing_and_the_config_is_put_back(worktree, tmp_path):
    evidence = tmp_path / "evidence.txt"
    program = hostile_program(tmp_path / "home", evidence)
    sealed = (worktree.mirror / "config").read_bytes()
    git(worktree.mirror, "config", "filter.evil.clean", str(program))
    git(worktree.mirror, "config", "core.sshCommand", str(program))
    (worktree.path / ".gitattributes").write_text("* filter=evil\n")
    (worktree.path / "src" / "ok.py").write_text("ok = 3\n")

    files = package(worktree)

    assert not evidence.exists(), evidence.read_text()
    assert files == [".gitattributes", "src/ok.py"]
    assert tampering(worktree) == "the mirror's git config was changed"
    restore_mirror_config(worktree)
    assert (worktree.mirror / "config").read_bytes() == sealed and tampering(worktree) is None


@pytest.mark.parametrize("name", ["gitdir", "commondir", "config.worktree"])
def test_a_changed_admin_link_is_named(worktree, tmp_path, name):
    (worktree.seal.admin_dir / name).write_text(f"{tmp_path}\n")

    assert tampering(worktree) == f"the worktree's git admin dir was changed ({name})"


def test_dot_git_replaced_by_a_symlink_or_a_folder_is_tampering(worktree, tmp_path):
    dot_git = worktree.path / ".git"
    target = tmp_path / "elsewhere"
    target.write_bytes(dot_git.read_bytes())
    dot_git.unlink()
    dot_git.symlink_to(target)
    assert tampering(worktree) == "the worktree's .git file was changed"
    dot_git.unlink()
    dot_git.mkdir()
    assert tampering(worktree) == "the worktree's .git file was changed"


def test_an_untouched_worktree_is_intact(worktree):
    (worktree.path / "src" / "ok.py").write_text("ok = 4\n")
    assert package(worktree) == ["src/ok.py"]
    assert tampering(worktree) is None


def test_git_sees_none_of_the_workers_secrets(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@localhost:6379/0")
    monkeypatch.setenv("ADAPTER_TOKEN", "adapter-signing-key")
    monkeypatch.setenv("GIT_DIR", "/somewhere/else")

    env = git_env()

    assert "REDIS_URL" not in env and "ADAPTER_TOKEN" not in env and "GIT_DIR" not in env
    assert env["PATH"] == os.environ["PATH"]


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_the_owned_git_dir_is_laid_out_as_git_init_lays_it_out(tmp_path, object_format):
    commit = "0" * (64 if object_format == "sha256" else 40)
    work_tree = tmp_path / "work"
    git(tmp_path, "init", "-q", f"--object-format={object_format}", str(work_tree))
    (work_tree / ".git" / "index").write_bytes(b"")
    owned = make_owned_git(tmp_path / "mirror", work_tree, tmp_path / "owned.git", commit)
    reference = tmp_path / "reference.git"
    git(tmp_path, "init", "-q", "--bare", "--template=", f"--object-format={object_format}", str(reference))

    def layout(git_dir: Path) -> set[str]:
        return {path.relative_to(git_dir).as_posix() for path in git_dir.rglob("*") if path.is_dir()}

    assert layout(owned.git_dir) == layout(reference)
    assert (owned.git_dir / "config").read_text() == (reference / "config").read_text()
    assert (
        git(tmp_path, f"--git-dir={owned.git_dir}", "rev-parse", "--show-object-format").strip()
        == object_format
    )


def test_a_worktree_read_through_the_owned_git_dir_gives_the_job_s_work(worktree):
    (worktree.path / "src" / "ok.py").write_text("ok = 2\n")
    (worktree.path / "new.txt").write_text("new\n")
    assert package(worktree) == ["new.txt", "src/ok.py"]
