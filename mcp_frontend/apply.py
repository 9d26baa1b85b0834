"""Bring a finished job's patch into the caller's working tree: never commits, stages, or moves HEAD.

The merge runs like `git apply --3way`, but against a scratch copy of the caller's index rebuilt from
the files on disk. So local edits, staged or not, are "ours" in the merge, and the caller's real
index is never written: the patch arrives as unstaged changes (new files untracked), and conflicted
files carry conflict markers without unmerged index entries.

Before git writes anything the stored patch is checked against the job's record (`patch_check.py`, and for
`remote` jobs the result commit on the remote, `transport.py`); a patch that does not match is refused
with `patch_mismatch`.
"""

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import redis

from farm_core.git_cli import SAFE_CONFIG, git_env, git_succeeds, run_git, stage_working_tree, temporary_index
from farm_core.git_errors import GitOperationError
from farm_core.job_models import SCOPE_CHECK, JobRecord, JobStatus
from farm_core.result_signature import result_signature_problem
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from mcp_frontend.errors import (
    ApplyFailed,
    BrokerUnavailable,
    JobNotFinished,
    PatchMismatch,
    PatchUnavailable,
    ToolCallError,
)
from mcp_frontend.patch_check import PatchFacts, check_digest, check_facts, read_patch
from mcp_frontend.repo_paths import resolve_repo
from mcp_frontend.transport import check_result_commit
from mcp_frontend.views import ApplyResult

ApplyMode = Literal["3way", "check"]
AutoApply = Literal["never", "on_success"]

# Fields kept on the job hash beside the record's own (JobRecord ignores unknown fields).
APPLIED_AT = "applied_at"  # when an apply last wrote to the caller's tree
APPLY_CLAIMED = "apply_claimed"  # HSETNX lock; kept once the tree was written, so nobody applies twice
APPLY_RESULT = "apply_result"  # the latest ApplyResult as JSON, shown by get and wait

NOTHING_TO_APPLY = "nothing to apply"
IN_PROGRESS = (
    "another apply of this job is in progress (or was interrupted); pass force: true to apply anyway"
)
GIT_APPLY_TIMEOUT_S = 300


@dataclass(frozen=True)
class GitApply:
    """How `git apply --3way` ended: merged (maybe with conflicts) or refused outright, writing nothing."""

    merged: bool
    conflicts: list[str] = field(default_factory=list)
    reason: str = ""


class PatchApplier:
    """Applies finished jobs' patches to the checkouts they were started from, once per job unless forced."""

    def __init__(self, store: JobStore, sandbox_root: Path, farm: FarmSettings):
        self.store, self.sandbox_root, self.farm = store, sandbox_root, farm
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def apply(self, record: JobRecord, mode: ApplyMode = "3way", force: bool = False) -> ApplyResult:
        """The apply tool: merge a finished job's patch into its repo, or (check) report what would clash."""
        job_id = record.job_id
        if not record.status.terminal:
            raise JobNotFinished(f"job {job_id} is {record.status.value}; its patch is not final yet")
        with _redis_errors():
            applied_at = self._field(job_id, APPLIED_AT)
            if applied_at and mode == "3way" and not force:
                return _result(
                    job_id, mode, f"already applied at {_clock(applied_at)}; pass force: true to apply again"
                )
            if not record.result_commit:
                return _result(job_id, mode, NOTHING_TO_APPLY)
            repo, patch = self._repo(record), self._patch(job_id)
            paths = self._verified(repo, record, patch).paths
            if mode == "check":
                result = describe(job_id, mode, three_way(repo, patch, paths, dry_run=True), paths)
                if applied_at:
                    result.message += f" (note: already applied at {_clock(applied_at)})"
                return result
            return self._apply_once(job_id, repo, patch, paths, force)

    def on_success(self, record: JobRecord) -> ApplyResult | None:
        """A finished job's latest apply result; applies an `apply="on_success"` job first if it qualifies."""
        if not record.status.terminal:
            return None
        with _redis_errors():
            stored = self._stored(record.job_id)
        if stored is not None or record.spec is None or record.spec.apply != "on_success":
            return stored
        if reason := not_eligible(record):
            return _result(record.job_id, "3way", f"not applied automatically: {reason}")
        try:
            return self.apply(record)
        except ToolCallError as error:
            result = _result(
                record.job_id, "3way", f"not applied automatically: {error.code}: {error.message}"
            )
            if not isinstance(error, BrokerUnavailable):  # a permanent answer: do not retry on every get
                with suppress(redis.RedisError):
                    self.store.set_fields(record.job_id, **{APPLY_RESULT: result.model_dump_json()})
            return result

    def _verified(self, repo: Path, record: JobRecord, patch: bytes) -> PatchFacts:
        """The patch's facts once it is shown to be the one its worker recorded; PatchMismatch otherwise."""
        check_digest(record, patch)  # first: git never even reads a patch that is not the recorded one
        if problem := result_signature_problem(record, self.farm):
            raise PatchMismatch(f"job {record.job_id}: {problem}")
        facts = read_patch(repo, record.spec.snapshot_commit, patch)
        check_facts(record, facts)
        check_result_commit(repo, record, facts.tree, self.farm)
        return facts

    def _apply_once(
        self, job_id: str, repo: Path, patch: bytes, paths: list[str], force: bool
    ) -> ApplyResult:
        """Hold the job's apply claim while git writes, then record the outcome on the job hash."""
        if not self._claim(job_id, force):
            return _result(job_id, "3way", IN_PROGRESS)
        try:
            outcome = three_way(repo, patch, paths, dry_run=False)
        except BaseException:
            self.store.redis.hdel(self._key(job_id), APPLY_CLAIMED)
            raise
        result = describe(job_id, "3way", outcome, paths)
        self._record(job_id, result, wrote=outcome.merged)
        return result

    def _claim(self, job_id: str, force: bool) -> bool:
        if force:
            return self.store.set_fields(job_id, **{APPLY_CLAIMED: self.owner})
        # one transaction: the claim never leaves the record without its TTL
        pipe = self.store.redis.pipeline()
        pipe.hsetnx(self._key(job_id), APPLY_CLAIMED, self.owner)
        pipe.expire(self._key(job_id), self.store.ttl_s)
        claimed, _ = pipe.execute()
        return bool(claimed)

    def _record(self, job_id: str, result: ApplyResult, wrote: bool) -> None:
        """Store the result; a written tree keeps the claim, a refused patch frees it for another try."""
        pipe = self.store.redis.pipeline()
        pipe.hset(self._key(job_id), APPLY_RESULT, result.model_dump_json())
        if wrote:
            pipe.hset(self._key(job_id), APPLIED_AT, time.time())
        else:
            pipe.hdel(self._key(job_id), APPLY_CLAIMED)
        pipe.expire(self._key(job_id), self.store.ttl_s)
        pipe.execute()

    def _repo(self, record: JobRecord) -> Path:
        """The caller's checkout, still inside SANDBOX_ROOT and still holding the job's snapshot."""
        if record.spec is None:
            raise ApplyFailed(f"job {record.job_id} has no recorded spec")
        repo = resolve_repo(record.spec.source.location, self.sandbox_root)
        if not git_succeeds(repo, "cat-file", "-e", f"{record.spec.snapshot_commit}^{{commit}}"):
            raise ApplyFailed(
                f"the job's snapshot commit {record.spec.snapshot_commit[:12]} is not in {repo}"
            )
        return repo

    def _patch(self, job_id: str) -> bytes:
        patch = self.store.load_patch(job_id)
        if not patch:
            raise PatchUnavailable(
                f"the patch of job {job_id} is not stored (expired, or larger than FARM_PATCH_MAX_BYTES)"
            )
        return patch

    def _stored(self, job_id: str) -> ApplyResult | None:
        raw = self._field(job_id, APPLY_RESULT)
        return ApplyResult.model_validate_json(raw) if raw else None

    def _field(self, job_id: str, name: str) -> str | None:
        value = self.store.redis.hget(self._key(job_id), name)
        return value.decode() if value else None

    def _key(self, job_id: str) -> str:
        return self.store.keys(job_id).record


def not_eligible(record: JobRecord) -> str | None:
    """Why a job does not qualify for on_success (None when it does): it must complete with every verdict
    passed."""
    if record.status != JobStatus.completed:
        return f"the job ended {record.status.value}"
    spec, verdicts = record.spec, record.result.checks if record.result else []
    # The pipeline reports the scope verdict first, then one verdict per check in order.
    expected = ([SCOPE_CHECK] if spec.scoped_patch else []) + [check.name for check in spec.checks]
    if len(verdicts) != len(expected):
        return f"{len(verdicts)} check verdicts for {len(expected)} checks"
    failed = [v for name, v in zip(expected, verdicts, strict=True) if not _passed(name, v)]
    return "not every check passed: " + "; ".join(failed) if failed else None


def _passed(name: str, verdict: str) -> bool:
    return verdict == f"{name}: passed" or (
        name == SCOPE_CHECK and verdict.startswith(f"{SCOPE_CHECK}: passed (")
    )


def three_way(repo: Path, patch: bytes, paths: list[str], dry_run: bool) -> GitApply:
    """`git apply --3way` against the files on disk, through a scratch index; dry_run merges into that
    index only."""
    try:
        with temporary_index(repo) as env:
            # The scratch index mirrors the disk, so every local edit is "ours" and none trips `does not match
            # index`.
            stage_working_tree(repo, env)
            completed = _git_apply(repo, ["--cached"] if dry_run else [], env, patch)
            if completed.returncode == 0:
                return GitApply(merged=True)
            conflicts = unmerged_paths(repo, env)
    except GitOperationError as error:
        raise ApplyFailed(f"could not prepare the merge: {error.message}") from None
    if conflicts:
        return GitApply(merged=True, conflicts=conflicts)
    # git checks the whole patch before writing, so a refusal leaves the tree as it was.
    errors = [
        line
        for line in completed.stderr.decode("utf-8", "replace").splitlines()
        if line.startswith("error: ")
    ]
    named = sorted({path for path in paths for line in errors if _names(line, path)})
    reason = errors[0].removeprefix("error: ") if errors else f"git apply exited {completed.returncode}"
    if not named:
        raise ApplyFailed(f"git apply refused the patch: {reason}")
    return GitApply(merged=False, conflicts=named, reason=reason)


def unmerged_paths(repo: Path, env: dict[str, str]) -> list[str]:
    """Paths with conflict stages in the index env points at."""
    output = run_git(repo, "ls-files", "-u", "-z", env=env)
    return sorted({os.fsdecode(entry.split(b"\t", 1)[1]) for entry in output.split(b"\0") if b"\t" in entry})


def describe(job_id: str, mode: ApplyMode, outcome: GitApply, paths: list[str]) -> ApplyResult:
    """The caller's view of one git apply: what landed, what clashes, in one sentence."""
    dry = mode == "check"
    count = f"{len(paths)} file(s)"
    if not outcome.merged:
        verb = "would not apply" if dry else "not applied"
        message = f"{verb}: git refused the patch ({outcome.reason}); nothing was changed"
    elif outcome.conflicts:
        clash = f"{len(outcome.conflicts)} of {count}"
        message = (
            f"would conflict in {clash}; nothing was changed"
            if dry
            else f"applied with conflicts in {clash}: resolve the conflict markers; the other files were "
            "applied unstaged"
        )
    else:
        message = (
            f"would apply cleanly to {count}"
            if dry
            else f"applied {count} to the working tree, unstaged; nothing was committed"
        )
    applied = outcome.merged and not outcome.conflicts and not dry
    files = paths if outcome.merged or dry else []
    return ApplyResult(
        job_id=job_id, applied=applied, mode=mode, files=files, conflicts=outcome.conflicts, message=message
    )


def _git_apply(
    repo: Path, extra: list[str], env: dict[str, str], patch: bytes
) -> subprocess.CompletedProcess:
    """Run git apply --3way with the patch on stdin; its whole stderr is kept to name the refused paths."""
    # --whitespace=nowarn: the caller's apply.whitespace=error must not reject the agent's patch.
    args = ["git", *SAFE_CONFIG, "apply", "--3way", "--whitespace=nowarn", *extra, "-"]
    try:
        return subprocess.run(
            args, cwd=repo, env=git_env(env), input=patch, capture_output=True, timeout=GIT_APPLY_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ApplyFailed(f"git apply could not run: {type(error).__name__}") from None


def _names(error_line: str, path: str) -> bool:
    """True when a git apply error line is about path (`error: P: ...` or `error: patch failed: P:N`)."""
    return error_line.startswith((f"error: {path}:", f"error: patch failed: {path}:"))


def _result(job_id: str, mode: ApplyMode, message: str) -> ApplyResult:
    return ApplyResult(job_id=job_id, applied=False, mode=mode, message=message)


def _clock(timestamp: str) -> str:
    return datetime.fromtimestamp(float(timestamp)).isoformat(timespec="seconds")


@contextmanager
def _redis_errors() -> Iterator[None]:
    """Redis failures surface as broker_unavailable, like every other tool's."""
    try:
        yield
    except redis.RedisError as error:
        raise BrokerUnavailable(f"cannot reach Redis: {type(error).__name__}") from None
