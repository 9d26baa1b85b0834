"""Package what an agent changed in its worktree: changed paths, a result commit, a patch, stats."""

import os
from dataclasses import dataclass

from farm_core.git_cli import GitRepo, run_git, run_git_text, stage_working_tree, temporary_index
from farm_core.git_errors import BAD_REVISION, GitOperationError
from tasks.worktree import FULL_OBJECT_ID

JOB_TRAILER = "Codex-Farm-Job"


@dataclass(frozen=True, slots=True)
class ResultCommit:
    """The farm's commit of the agent's work, the commit it sits on and the paths it changes."""

    commit: str
    parent: str
    files: list[str]


@dataclass(frozen=True, slots=True)
class FileStat:
    """Lines added/deleted in one file; both None for a binary file."""

    path: str
    added: int | None
    deleted: int | None


def changed_files(repo: GitRepo, base: str = "HEAD", tree: str | None = None) -> list[str]:
    """Sorted paths that differ between base and the files on disk (or `tree`, from working_tree_id)."""
    base_commit = base if FULL_OBJECT_ID.match(base) else _resolve(repo, base)
    return _changed_paths(repo, base_commit, tree or working_tree_id(repo))


def working_tree_id(repo: GitRepo) -> str:
    """The tree of the files on disk (untracked included, ignored not), written without touching the index."""
    # A scratch index, so merely asking does not stage anything in the worktree.
    with temporary_index(repo) as env:
        return stage_working_tree(repo, env)


def restore_working_tree(repo: GitRepo, tree: str) -> None:
    """Put the files on disk back to `tree`: rewrite changed or deleted files, remove new ones (ignored
    kept)."""
    with temporary_index(repo) as env:
        run_git(repo, "read-tree", tree, env=env)
        run_git(repo, "checkout-index", "--all", "--force", env=env)
        run_git(repo, "clean", "-d", "--force", "--quiet", env=env)


def commit_result(
    repo: GitRepo, job_id: str, message: str, base: str = "HEAD", tree: str | None = None
) -> ResultCommit | None:
    """Commit everything on disk (or `tree`, from working_tree_id) on top of base (default HEAD) as the farm;
    None when nothing changed.

    Pass the snapshot commit as base to fold in any commits the agent made itself.
    """
    head = _resolve(repo, "HEAD")
    parent = head if base == "HEAD" else _resolve(repo, base)
    if tree is None:
        tree = stage_working_tree(repo)
    else:
        run_git(repo, "read-tree", tree)  # the index follows the commit, as after `git commit`
    files = _changed_paths(repo, parent, tree)
    if not files:
        return None
    commit = commit_tree(repo, job_id, message, parent, tree)
    # Like `git commit`: a detached HEAD moves itself, a checked-out branch advances; guarded by the old
    # value.
    run_git(repo, "update-ref", "HEAD", commit, head)
    return ResultCommit(commit=commit, parent=parent, files=files)


def commit_tree(repo: GitRepo, job_id: str, message: str, parent: str, tree: str) -> str:
    """Commit `tree` on `parent` (both object ids) as the farm, with the job trailer; moves no ref."""
    full_message = f"{message.strip() or f'codex-farm result {job_id}'}\n\n{JOB_TRAILER}: {job_id}\n"
    # commit-tree rather than `git commit`: no hooks, templates or message cleanup can interfere.
    return run_git_text(repo, "commit-tree", tree, "-p", parent, "-F", "-", input=full_message.encode())


def binary_patch(repo: GitRepo, parent: str, commit: str) -> bytes:
    """The exact `git apply`-able patch from parent to commit, binary files included."""
    # Plumbing diff-tree ignores porcelain config (diff.noPrefix, external diff, textconv)
    # that would otherwise make the patch unappliable.
    return run_git(
        repo,
        "diff-tree",
        "-r",
        "-p",
        "--binary",
        "--full-index",
        "--find-renames",
        "--no-color",
        _revision(parent),
        _revision(commit),
        "--",
    )


def diff_stats(repo: GitRepo, parent: str, commit: str) -> list[FileStat]:
    """Per-file added/deleted line counts from parent to commit (renames count as delete + add)."""
    output = run_git(
        repo, "diff-tree", "-r", "--numstat", "-z", "--no-renames", _revision(parent), _revision(commit), "--"
    )
    stats = []
    for record in output.split(b"\0"):
        if not record:
            continue
        added, deleted, path = record.split(b"\t", 2)
        stats.append(FileStat(path=os.fsdecode(path), added=_count(added), deleted=_count(deleted)))
    return stats


def _changed_paths(repo: GitRepo, parent: str, tree: str) -> list[str]:
    output = run_git(repo, "diff-tree", "-r", "-z", "--name-only", "--no-renames", parent, tree, "--")
    return sorted(os.fsdecode(path) for path in output.split(b"\0") if path)


def _resolve(repo: GitRepo, rev: str) -> str:
    try:
        return run_git_text(repo, "rev-parse", "--verify", "--quiet", f"{_revision(rev)}^{{commit}}")
    except GitOperationError as error:
        raise GitOperationError(f"no commit named {rev!r}", code=BAD_REVISION, stderr=error.stderr) from error


def _revision(rev: str) -> str:
    # A leading dash would be taken for an option.
    if not rev or rev.startswith("-"):
        raise GitOperationError(f"not a revision: {rev!r}", code=BAD_REVISION)
    return rev


def _count(field: bytes) -> int | None:
    return None if field == b"-" else int(field)
