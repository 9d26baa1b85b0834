"""How workers get a job's snapshot: the frontend picks a transport at `start` and prepares it.

- `path`: workers fetch from the caller's repo path (same host, or a shared filesystem).
- `bundle`: workers fetch the repo's `origin` themselves; the frontend ships only what origin
  lacks (local commits + the snapshot) as a git bundle in Redis. Without an origin the bundle
  holds the whole history the snapshot needs. Capped by FARM_BUNDLE_MAX_BYTES.
- `remote`: the frontend pushes the snapshot to FARM_GIT_REMOTE; workers fetch it from there, and push
  their result commit back, which `apply` fetches to check the stored patch against (`check_result_commit`).

`auto` (the default) is `remote` when FARM_GIT_REMOTE is set, else `path` when workers share the
caller's filesystem (FARM_SHARED_FS; unset, that is inferred from a loopback or unix-socket
REDIS_URL, since then every worker runs on this machine), else `bundle`.
"""

import ipaddress
import os
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

from farm_core.git_cli import run_git, run_git_text
from farm_core.git_errors import GitOperationError
from farm_core.job_models import JobRecord, RepoSource
from farm_core.keys import JobKeys
from farm_core.refs import RESULT_REF_PREFIX
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from farm_core.url_credentials import without_credentials
from mcp_frontend.errors import BrokerUnavailable, BundleTooLarge, PatchMismatch, TransportFailed
from mcp_frontend.snapshot import drop_snapshot_ref, snapshot_ref

ORIGIN = "origin"
ORIGIN_TRACKING_PREFIX = "refs/remotes/origin/"
PUSH_TIMEOUT_S = 600.0
BUNDLE_TIMEOUT_S = 600.0
# Schemes whose user name is part of the address (ssh logins), not a credential.


@dataclass(frozen=True)
class PreparedSource:
    """Where the worker finds the snapshot, and the bundle to store under the job's key (if any)."""

    source: RepoSource
    bundle: bytes | None = None


def choose_transport(settings: FarmSettings) -> str:
    """The transport `start` uses: FARM_TRANSPORT, or for `auto` the rule in this module's docstring."""
    if settings.transport != "auto":
        return settings.transport
    if settings.git_remote:
        return "remote"
    return "path" if workers_share_filesystem(settings) else "bundle"


def workers_share_filesystem(settings: FarmSettings) -> bool:
    """FARM_SHARED_FS; unset, True when Redis is on loopback or a unix socket (workers run on this
    machine)."""
    if settings.shared_fs is not None:
        return settings.shared_fs
    return redis_is_local(settings.redis_url)


def redis_is_local(url: str) -> bool:
    """True when the Redis URL can only be reached from this machine."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare_source(repo: Path, job_id: str, commit: str, settings: FarmSettings, host: str) -> PreparedSource:
    """Make the snapshot (already under `refs/codex-farm/snapshots/<job>` in repo) reachable for workers.

    On failure the job's snapshot ref is dropped again, since no job will use it.
    """
    transport = choose_transport(settings)
    ref = snapshot_ref(job_id)
    origin = origin_url(repo)
    if transport == "path":
        return PreparedSource(
            RepoSource(location=str(repo), origin_host=host, origin_url=origin, snapshot_ref=ref)
        )
    try:
        if transport == "remote":
            return push_snapshot(repo, job_id, commit, settings, host, origin)
        return bundle_snapshot(repo, job_id, commit, settings, host, origin)
    except BaseException:
        with suppress(GitOperationError):
            drop_snapshot_ref(repo, job_id)
        raise


def bundle_snapshot(
    repo: Path, job_id: str, commit: str, settings: FarmSettings, host: str, origin: str | None
) -> PreparedSource:
    """A bundle of what origin lacks (or of the whole history without an origin), capped."""
    ref = snapshot_ref(job_id)
    excluded = origin_tips(repo) if origin else []
    source = RepoSource(
        transport="bundle",
        location=str(repo),
        origin_host=host,
        origin_url=origin,
        repo_id=None if origin else root_commit(repo, commit),
        snapshot_ref=ref,
    )
    if excluded and not has_commits_beyond(repo, commit, excluded):
        return PreparedSource(source)  # origin already has the snapshot: workers fetch it from there
    with tempfile.TemporaryDirectory(prefix="codex-farm-bundle-") as scratch:
        path = Path(scratch) / "snapshot.bundle"
        revisions = "".join(f"{line}\n" for line in [ref, *(f"^{tip}" for tip in excluded)])
        try:
            run_git(
                repo,
                "bundle",
                "create",
                "--quiet",
                str(path),
                "--stdin",
                input=revisions.encode(),
                timeout=BUNDLE_TIMEOUT_S,
            )
        except GitOperationError as exc:
            raise TransportFailed(f"could not bundle the snapshot: {exc.message}") from None
        size = path.stat().st_size
        if size > settings.bundle_max_bytes:
            raise BundleTooLarge(_too_large_message(size, settings.bundle_max_bytes, whole=not excluded))
        data = path.read_bytes()
    key = JobKeys(settings.key_prefix, job_id).bundle
    return PreparedSource(source.model_copy(update={"bundle_key": key, "bundle_bytes": len(data)}), data)


def push_snapshot(
    repo: Path, job_id: str, commit: str, settings: FarmSettings, host: str, origin: str | None
) -> PreparedSource:
    """Force-push the snapshot commit to `refs/codex-farm/snapshots/<job>` on FARM_GIT_REMOTE."""
    remote = settings.git_remote
    if not remote:
        raise TransportFailed(
            "FARM_TRANSPORT=remote needs FARM_GIT_REMOTE (a git URL, or a remote name of the repo)"
        )
    if remote.startswith("-"):
        raise TransportFailed(f"FARM_GIT_REMOTE is not a remote: {remote!r}")
    ref = snapshot_ref(job_id)
    try:
        # The caller's own credentials and URL rewrites apply; their pre-push hooks do not (a private ref).
        run_git(
            repo,
            "push",
            "--force",
            "--quiet",
            "--no-verify",
            remote,
            f"{commit}:{ref}",
            timeout=PUSH_TIMEOUT_S,
        )
    except GitOperationError as exc:
        raise TransportFailed(
            f"could not push the snapshot to FARM_GIT_REMOTE ({without_credentials(remote)}): {exc.message}"
        ) from None
    return PreparedSource(
        RepoSource(
            transport="remote",
            location=str(repo),
            origin_host=host,
            origin_url=origin,
            remote_url=remote_url(repo, remote),
            snapshot_ref=ref,
        )
    )


def store_bundle(store: JobStore, job_id: str, bundle: bytes | None) -> None:
    """Put the job's bundle in Redis (before the job is enqueued); a no-op without one."""
    if bundle is None:
        return
    try:
        store.store_bundle(job_id, bundle)
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot reach Redis: {type(exc).__name__}") from None


def check_result_commit(repo: Path, record: JobRecord, patched_tree: str, settings: FarmSettings) -> None:
    """For a `remote` job: PatchMismatch unless the result commit its worker pushed to FARM_GIT_REMOTE is the
    record's `result_commit`, sits on the job's snapshot, and holds exactly the tree the stored patch makes.

    The remote, not Redis, says where: FARM_GIT_REMOTE of this frontend. `path` and `bundle` jobs have no
    second copy of the result to compare with (a `path` worker's commit goes with the job's git dir)."""
    if record.spec is None or record.spec.source.transport != "remote":
        return
    if not settings.git_remote:
        raise PatchMismatch(
            f"job {record.job_id} ran with transport remote, but no FARM_GIT_REMOTE "
            "is set here to fetch its result"
        )
    url, ref, commit = (
        remote_url(repo, settings.git_remote),
        RESULT_REF_PREFIX + record.job_id,
        record.result_commit or "",
    )
    pushed = _remote_ref(repo, url, ref)
    if pushed != commit:
        raise PatchMismatch(
            f"{ref} on FARM_GIT_REMOTE is {pushed[:12] or 'missing'}, not the "
            f"record's result commit {commit[:12]}"
        )
    try:
        # Objects only: no ref, no FETCH_HEAD and no maintenance run in the caller's repo.
        run_git(
            repo,
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-auto-maintenance",
            url,
            ref,
            timeout=PUSH_TIMEOUT_S,
        )
        parents = run_git_text(repo, "rev-list", "--parents", "-n", "1", commit).split()[1:]
        tree = run_git_text(repo, "rev-parse", "--verify", f"{commit}^{{tree}}")
    except GitOperationError as exc:
        raise PatchMismatch(
            f"could not fetch the result commit {commit[:12]} from FARM_GIT_REMOTE: {exc.message}"
        ) from None
    if parents != [record.spec.snapshot_commit]:
        raise PatchMismatch(
            f"the result commit {commit[:12]} does not sit on the job's snapshot "
            f"{record.spec.snapshot_commit[:12]}"
        )
    if tree != patched_tree:
        raise PatchMismatch(
            f"the stored patch does not make the tree of the result commit {commit[:12]} on FARM_GIT_REMOTE"
        )


def _remote_ref(repo: Path, url: str, ref: str) -> str:
    """The object id `ref` names on the remote, or "" when it has no such ref (or cannot be reached)."""
    try:
        listing = run_git(repo, "ls-remote", "--refs", url, ref, timeout=PUSH_TIMEOUT_S).decode(
            "utf-8", "replace"
        )
    except GitOperationError:
        return ""
    names = dict(line.split("\t")[::-1] for line in listing.splitlines() if "\t" in line)
    return names.get(ref, "")


def origin_url(repo: Path) -> str | None:
    """The `origin` URL as the repo's config has it (credentials removed), or None without one."""
    url = _config_url(repo, ORIGIN)
    return without_credentials(_absolute_if_local(repo, url)) if url else None


def remote_url(repo: Path, remote: str) -> str:
    """The URL workers fetch `remote` from: a remote name of the repo resolved, credentials removed."""
    return without_credentials(_absolute_if_local(repo, _config_url(repo, remote) or remote))


def origin_tips(repo: Path) -> list[str]:
    """Distinct commits the caller's `refs/remotes/origin/*` point to (what origin is known to have)."""
    listing = run_git_text(repo, "for-each-ref", "--format=%(objectname)", ORIGIN_TRACKING_PREFIX)
    return sorted(set(listing.split()))


def has_commits_beyond(repo: Path, commit: str, excluded: list[str]) -> bool:
    """True when commit has history that none of the excluded tips reaches."""
    revisions = "".join(f"^{tip}\n" for tip in excluded)
    count = run_git_text(repo, "rev-list", "--count", commit, "--stdin", input=revisions.encode())
    return int(count or "0") > 0


def root_commit(repo: Path, commit: str) -> str:
    """A root commit of commit's history (the smallest id when there are several): the repo's identity."""
    return min(run_git_text(repo, "rev-list", "--max-parents=0", commit).split())


def _config_url(repo: Path, remote: str) -> str | None:
    try:
        return run_git_text(repo, "config", "--get", f"remote.{remote}.url") or None
    except GitOperationError:
        return None  # no such remote (git config exits 1)


def _absolute_if_local(repo: Path, url: str) -> str:
    # A relative path means nothing on a worker; git reads it relative to the repo's top.
    if "://" in url or os.path.isabs(url) or _scp_like(url):
        return url
    top = Path(run_git_text(repo, "rev-parse", "--show-toplevel"))
    return str((top / url).resolve())


def _scp_like(url: str) -> bool:
    # `host:path` or `user@host:path`: a colon before any slash (git's own rule).
    colon, slash = url.find(":"), url.find("/")
    return colon > 0 and (slash < 0 or colon < slash)


def _too_large_message(size: int, cap: int, whole: bool) -> str:
    what = (
        "no origin to build on, so all the history it needs"
        if whole
        else "the commits origin lacks, plus the snapshot"
    )
    return (
        f"the snapshot bundle is {size} bytes ({what}), over FARM_BUNDLE_MAX_BYTES "
        f"({cap} bytes); raise FARM_BUNDLE_MAX_BYTES, push local commits to origin, "
        "or set FARM_GIT_REMOTE so workers fetch the snapshot from a git remote"
    )
