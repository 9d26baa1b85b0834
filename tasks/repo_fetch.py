"""The worker's side of the transports: bring a job's snapshot into the mirror cache, whichever way it came.

- `path`: fetch the caller's repo path (the mirror is keyed by that path), as on one machine.
- `bundle`: the mirror is keyed by the origin URL (or, without an origin, by the repo's root commit);
  origin is fetched with this worker's own credentials when the bundle builds on commits the mirror
  lacks, then the bundle (from Redis) is fetched on top.
- `remote`: the mirror is keyed by the remote URL; only the job's snapshot ref is fetched.

Every mirror mutation runs under the mirror's lock (`WorktreeCache.materialize` calls `fetch` there).
For `remote` jobs the result commit is also pushed back to the remote (`push_result`).
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from farm_core.git_cli import require_job_id, run_git
from farm_core.git_errors import GitOperationError
from farm_core.job_models import JobSpec, RepoSource
from farm_core.refs import RESULT_REF_PREFIX, SNAPSHOT_REF_PREFIX
from farm_core.store import JobStore
from farm_core.url_credentials import without_credentials
from tasks.worktree import FULL_OBJECT_ID, Worktree, WorktreeCache, has_commit, is_mirror

# Origin's branches and tags only: its fetch must never prune the farm's refs that came from bundles.
ORIGIN_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
# Names the mirror of a repo without an origin; `://` keeps it from ever being read as a path.
REPO_ID_SCHEME = "codex-farm-repo://"
BUNDLE_SIGNATURES = (b"# v2 git bundle", b"# v3 git bundle")
PUSH_TIMEOUT_S = 600.0
SOURCE_UNAVAILABLE = "source_unavailable"


class SourceUnavailable(GitOperationError):
    """This worker cannot get the job's snapshot the way the frontend shipped it."""

    def __init__(self, message: str, stderr: str | bytes = "") -> None:
        super().__init__(message, code=SOURCE_UNAVAILABLE, stderr=stderr)


def materialize_job(cache: WorktreeCache, spec: JobSpec, store: JobStore) -> Worktree:
    """A fresh worktree of the job's snapshot commit, fetched by the job's transport."""
    require_job_id(spec.job_id)
    source, commit = spec.source, spec.snapshot_commit
    if source.transport == "path":
        _require_readable(cache, source, commit)
        return cache.materialize(source.location, commit, spec.job_id, borrow=True)
    ref = _snapshot_ref(spec)
    timeout = cache.fetch_timeout
    if source.transport == "bundle":
        fetch = lambda mirror: fetch_bundle(mirror, spec, store, timeout)  # noqa: E731
        return cache.materialize(mirror_key(source), commit, spec.job_id, fetch=fetch)
    if not source.remote_url:
        raise SourceUnavailable("a transport=remote job must name remote_url")
    url = checked_url(source.remote_url)
    return cache.materialize(
        url, commit, spec.job_id, fetch=lambda mirror: fetch_ref(mirror, url, ref, timeout)
    )


def mirror_key(source: RepoSource) -> str:
    """What names a bundle job's mirror: the origin URL, else the repo's root commit."""
    if source.origin_url:
        return checked_url(source.origin_url)
    if source.repo_id and FULL_OBJECT_ID.match(source.repo_id):
        return REPO_ID_SCHEME + source.repo_id
    raise SourceUnavailable("a transport=bundle job must name origin_url or a full repo_id")


def fetch_bundle(mirror: Path, spec: JobSpec, store: JobStore, timeout: float | None = None) -> None:
    """Bring the job's snapshot into mirror: origin first when needed, then the bundle from Redis."""
    source, ref = spec.source, _snapshot_ref(spec)
    if source.bundle_key is None:  # origin already has the snapshot
        fetch_origin(mirror, source, timeout)
        return
    bundle = store.load_bundle(spec.job_id)
    if bundle is None:
        raise SourceUnavailable(
            f"job {spec.job_id}'s snapshot bundle is no longer in Redis (expired "
            "after FARM_JOB_TTL_S?); start the job again"
        )
    missing = [commit for commit in bundle_prerequisites(bundle) if not has_commit(mirror, commit)]
    if missing:
        fetch_origin(mirror, source, timeout)
        still = [commit for commit in missing if not has_commit(mirror, commit)]
        if still:
            raise SourceUnavailable(
                f"origin {without_credentials(source.origin_url or '')} lacks {len(still)} commit(s) the "
                f"bundle builds on (e.g. {still[0][:12]}): the caller's origin/* refs are ahead of origin or "
                "were rewritten; run `git fetch origin` in the caller's repo, or use FARM_TRANSPORT=remote"
            )
    with tempfile.NamedTemporaryFile(
        dir=mirror.parent, prefix=f"{mirror.name}.", suffix=".bundle"
    ) as scratch:
        scratch.write(bundle)
        scratch.flush()
        try:
            run_git(mirror, "fetch", "--quiet", "--no-tags", scratch.name, f"+{ref}:{ref}", timeout=timeout)
        except GitOperationError as exc:
            raise SourceUnavailable(
                f"could not fetch job {spec.job_id}'s bundle: {exc.message}", exc.stderr
            ) from None


def fetch_origin(mirror: Path, source: RepoSource, timeout: float | None = None) -> None:
    """Fetch origin's branches and tags into mirror with this worker's own credentials."""
    if not source.origin_url:
        raise SourceUnavailable("the bundle builds on commits of an origin, but the job names no origin_url")
    checked_url(source.origin_url)
    try:
        run_git(
            mirror,
            "fetch",
            "--quiet",
            "--no-tags",
            "--prune",
            source.origin_url,
            *ORIGIN_REFSPECS,
            timeout=timeout,
        )
    except GitOperationError as exc:
        raise SourceUnavailable(
            f"could not fetch origin {without_credentials(source.origin_url)}: {exc.message}; this worker "
            "needs read access to"
            " origin (its own credentials), or use FARM_TRANSPORT=remote on the frontend",
            exc.stderr,
        ) from None


def fetch_ref(mirror: Path, url: str, ref: str, timeout: float | None = None) -> None:
    """Fetch one ref of a remote into the same ref of mirror."""
    checked_url(url)
    try:
        run_git(mirror, "fetch", "--quiet", "--no-tags", url, f"+{ref}:{ref}", timeout=timeout)
    except GitOperationError as exc:
        raise SourceUnavailable(
            f"could not fetch {ref} from {without_credentials(url)}: {exc.message}", exc.stderr
        ) from None


def bundle_prerequisites(bundle: bytes) -> list[str]:
    """The commits a bundle builds on (its `-<id>` header lines)."""
    header = bundle.split(b"\n\n", 1)[0].split(b"\n")
    if header[0] not in BUNDLE_SIGNATURES:
        raise SourceUnavailable("the job's bundle is not a git bundle")
    return [
        line[1:].split(b" ", 1)[0].decode("ascii", "replace") for line in header[1:] if line.startswith(b"-")
    ]


def push_result(spec: JobSpec, git_dir: Path, commit: str, log: Callable[[str, str], None]) -> bool:
    """For a `remote` job, push the result commit from the farm's own git dir (never the agent's worktree)
    to `refs/codex-farm/results/<job>` there; best effort, logged."""
    url = spec.source.remote_url
    if spec.source.transport != "remote" or not url:
        return False
    ref = RESULT_REF_PREFIX + require_job_id(spec.job_id)
    try:
        checked_url(url)
        run_git(
            git_dir,
            "push",
            "--force",
            "--quiet",
            "--no-verify",
            url,
            f"{commit}:{ref}",
            timeout=PUSH_TIMEOUT_S,
        )
    except GitOperationError as exc:
        log("status", f"could not push the result to {ref} on {without_credentials(url)}: {exc.message}")
        return False
    log("status", f"result pushed to {ref} on {without_credentials(url)}")
    return True


def checked_url(url: str) -> str:
    """url, unless git would read it as an option or it holds control characters (payloads are not
    trusted)."""
    if not url or url.startswith("-") or any(ord(char) < 32 for char in url):
        raise SourceUnavailable(f"not a usable git URL: {url[:200]!r}")
    return url


def _snapshot_ref(spec: JobSpec) -> str:
    # Built from the job id, never taken on trust: the ref is fetched with `+` into the mirror.
    ref = SNAPSHOT_REF_PREFIX + spec.job_id
    if spec.source.snapshot_ref != ref:
        raise SourceUnavailable(f"snapshot_ref must be {ref}, not {spec.source.snapshot_ref!r}")
    return ref


def _require_readable(cache: WorktreeCache, source: RepoSource, commit: str) -> None:
    location = source.location
    if not os.path.isabs(location):
        raise SourceUnavailable(f"the repo path must be absolute: {location[:200]!r}")
    if os.path.isdir(location) and os.access(location, os.R_OK | os.X_OK):
        return
    mirror = cache.mirror_path(location)
    if FULL_OBJECT_ID.match(commit) and is_mirror(mirror) and has_commit(mirror, commit):
        return  # fetched before (e.g. a redelivered job): nothing to read
    raise SourceUnavailable(
        f"the repo path {location} (on {source.origin_host}) is not readable on this worker; workers on other"
        " machines need FARM_TRANSPORT=bundle or remote on the frontend (or FARM_SHARED_FS=0 with "
        "FARM_TRANSPORT=auto)"
    )
