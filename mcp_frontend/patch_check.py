"""What `apply` checks before it writes a stored patch: that it is the patch its worker recorded, that it
changes exactly the files the job's record lists and nothing outside the job's scope, and that it makes no
symlink that leads out of the repo (or into its `.git`).

The patch is read by applying it to the job's snapshot in a scratch index, so what is checked is what git
would write, not what the patch text claims.
"""

import os
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from farm_core.git_cli import run_git, run_git_text
from farm_core.git_errors import GitOperationError
from farm_core.job_models import JobRecord
from farm_core.scope import WriteScope
from farm_core.store import patch_sha256
from mcp_frontend.errors import ApplyFailed, PatchMismatch

SYMLINK_MODE = b"120000"
SHOWN_PATHS = 5


@dataclass(frozen=True)
class PatchFacts:
    """What a patch does to its job's snapshot: the tree it makes, the paths it changes, the symlinks it
    writes."""

    tree: str
    paths: list[str]
    links: dict[str, str]  # path -> target of every symlink the patch adds or changes


def check_digest(record: JobRecord, patch: bytes) -> None:
    """PatchMismatch unless the patch's sha256 is the one the worker recorded with it."""
    if not record.patch_sha256:
        raise PatchMismatch(
            f"job {record.job_id}'s record holds no patch digest, so its stored patch cannot be trusted"
        )
    actual = patch_sha256(patch)
    if actual != record.patch_sha256:
        raise PatchMismatch(
            f"job {record.job_id}'s stored patch has sha256 {actual[:16]}…, not the "
            f"{record.patch_sha256[:16]}… its worker recorded"
        )


def read_patch(repo: Path, snapshot: str, patch: bytes) -> PatchFacts:
    """The patch applied to the snapshot in a scratch index (the caller's index and files untouched)."""
    try:
        with tempfile.TemporaryDirectory(prefix="codex-farm-apply-") as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            run_git(repo, "read-tree", snapshot, env=env)
            run_git(repo, "apply", "--cached", "--whitespace=nowarn", "-", env=env, input=patch)
            tree = run_git_text(repo, "write-tree", env=env)
        changes = _raw_changes(run_git(repo, "diff-tree", "-r", "-z", "--no-renames", snapshot, tree, "--"))
        links = {
            path: os.fsdecode(run_git(repo, "cat-file", "blob", blob))
            for path, mode, blob in changes
            if mode == SYMLINK_MODE
        }
    except GitOperationError as error:
        raise ApplyFailed(
            f"the stored patch does not apply to the job's own snapshot: {error.message}"
        ) from None
    return PatchFacts(tree=tree, paths=sorted(path for path, _, _ in changes), links=links)


def check_facts(record: JobRecord, facts: PatchFacts) -> None:
    """PatchMismatch when the patch's paths are not the record's changed files, leave its scope, or a
    symlink leads out."""
    recorded = sorted(record.result.changed_files) if record.result else []
    if facts.paths != recorded:
        extra, missing = _shown(set(facts.paths) - set(recorded)), _shown(set(recorded) - set(facts.paths))
        raise PatchMismatch(
            "the stored patch changes other files than the job's record lists "
            f"(extra: {extra}; missing: {missing})"
        )
    scope = record.spec.scoped_patch.paths if record.spec and record.spec.scoped_patch else None
    outside = WriteScope(Path("."), scope).outside(facts.paths) if scope else []
    if outside:
        raise PatchMismatch(
            f"the stored patch changes {_shown(set(outside))} outside scoped_patch.paths ({', '.join(scope)})"
        )
    leaving = sorted(path for path, target in facts.links.items() if link_leaves_repo(path, target))
    if leaving:
        shown = ", ".join(f"{path} -> {facts.links[path]!r}" for path in leaving[:SHOWN_PATHS])
        raise PatchMismatch(
            f"the stored patch makes symlinks that lead out of the repo or into its .git: {shown}"
        )


def link_leaves_repo(path: str, target: str) -> bool:
    """True when a symlink at repo-relative `path` pointing at `target` is absolute, leaves the repo, or
    enters .git."""
    if target.startswith("/") or "\0" in target:
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    first = PurePosixPath(resolved).parts[0] if resolved not in ("", ".") else "."
    return first in ("..", ".git")


def _raw_changes(output: bytes) -> list[tuple[str, bytes, str]]:
    """(path, new mode, new blob id) of each entry of `diff-tree -r -z` raw output."""
    fields = output.split(b"\0")
    changes = []
    for meta, path in zip(fields[0::2], fields[1::2]):
        if not meta.startswith(b":"):
            continue
        _, new_mode, _, new_blob, _ = meta[1:].split(b" ")
        changes.append((os.fsdecode(path), new_mode, new_blob.decode()))
    return changes


def _shown(paths: set[str]) -> str:
    listed = sorted(paths)
    more = f" and {len(listed) - SHOWN_PATHS} more" if len(listed) > SHOWN_PATHS else ""
    return ", ".join(listed[:SHOWN_PATHS]) + more if listed else "none"
