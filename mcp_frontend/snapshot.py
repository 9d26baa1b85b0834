"""Commit a caller's working tree as it is, without touching their index, HEAD, branches or files."""

from dataclasses import dataclass
from pathlib import Path

from farm_core.git_cli import (
    head_commit,
    require_job_id,
    require_work_tree,
    run_git,
    run_git_text,
    stage_working_tree,
    temporary_index,
)
from farm_core.git_errors import BAD_REVISION, GitOperationError
from farm_core.refs import SNAPSHOT_REF_PREFIX

# A private namespace: not a branch or tag, so it stays out of the caller's way,
# yet it keeps the snapshot reachable (safe from gc) and fetchable by workers.
MAX_REV_CHARS = 1024  # far above any commit-ish people write


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The snapshot commit, the HEAD it was taken on (None without commits) and the ref keeping it."""

    commit: str
    base_commit: str | None
    ref: str


def snapshot_ref(job_id: str) -> str:
    """The ref that keeps job_id's snapshot alive."""
    return SNAPSHOT_REF_PREFIX + require_job_id(job_id)


def snapshot_worktree(repo: Path, job_id: str) -> Snapshot:
    """Commit staged, unstaged and untracked (not ignored) files of repo on top of HEAD, under a private
    ref."""
    ref = snapshot_ref(job_id)
    top = require_work_tree(repo)
    base_commit = head_commit(top)
    with temporary_index(top) as env:
        tree = stage_working_tree(top, env)
    commit = _commit_tree(top, tree, base_commit, f"codex-farm snapshot {job_id}\n")
    run_git(top, "update-ref", ref, commit)  # a commit just made needs no resolving, unlike pin_commit's
    return Snapshot(commit=commit, base_commit=base_commit, ref=ref)


def resolve_commitish(repo: Path, rev: str) -> str:
    """The full commit id rev names in repo (e.g. "HEAD", a branch, a tag, a short sha)."""
    require_work_tree(repo)
    # A leading dash would be read as an option (older git's rev-parse lacks --end-of-options); a NUL, a lone
    # surrogate or a huge argument (past the kernel's limit) cannot even be passed to git.
    if not rev or rev.startswith("-") or "\x00" in rev or len(rev) > MAX_REV_CHARS or not _encodable(rev):
        raise GitOperationError(f"not a revision: {rev[:200]!r}", code=BAD_REVISION)
    try:
        return run_git_text(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except GitOperationError as error:
        raise GitOperationError(
            f"no commit named {rev!r} in {repo}", code=BAD_REVISION, stderr=error.stderr
        ) from error


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def pin_commit(repo: Path, job_id: str, commit: str) -> str:
    """Point job_id's snapshot ref at commit and return the ref.

    Workers fetch only branches, tags and refs/codex-farm/*, so a base reachable only from,
    say, a remote-tracking branch must be pinned this way to be fetchable.
    """
    ref = snapshot_ref(job_id)
    run_git(repo, "update-ref", ref, resolve_commitish(repo, commit))
    return ref


def drop_snapshot_ref(repo: Path, job_id: str) -> None:
    """Delete job_id's snapshot ref (no-op when it is already gone) so gc may reclaim the snapshot."""
    run_git(repo, "update-ref", "-d", snapshot_ref(job_id))


def _commit_tree(repo: Path, tree: str, parent: str | None, message: str) -> str:
    parent_args = ("-p", parent) if parent else ()
    return run_git_text(repo, "commit-tree", tree, *parent_args, "-F", "-", input=message.encode())
