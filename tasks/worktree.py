"""Per-repo mirror cache on a worker: fresh detached worktrees of a snapshot commit, one per job."""

import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from farm_core.git_cli import (
    OwnedGit,
    git_succeeds,
    index_path,
    linked_git_dir,
    require_job_id,
    run_git,
    run_git_text,
)
from farm_core.git_errors import BAD_REVISION, GitOperationError

# Branches, tags and the farm's private refs (where snapshots live) of the source, mirrored 1:1.
MIRROR_REFSPECS = (
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "+refs/codex-farm/*:refs/codex-farm/*",
)
FULL_OBJECT_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
MIRROR_KEY_LENGTH = 16


# Files of a linked worktree's admin dir that redirect git elsewhere or add config to it.
ADMIN_LINKS = ("gitdir", "commondir", "config.worktree")


@dataclass(frozen=True, slots=True)
class GitSeal:
    """The git plumbing of a fresh worktree as the farm made it, to tell afterwards whether a job changed
    it."""

    git_link: bytes | None  # the worktree's `.git` file
    admin_dir: Path | None
    admin_links: tuple[tuple[str, bytes | None], ...]  # ADMIN_LINKS and their contents (None: absent)
    mirror_config: bytes | None


@dataclass(frozen=True, slots=True)
class Worktree:
    """A job's checkout: where it is, which mirror owns it, the commit it was made from, the git dir
    the farm reads it through after the agent, and the seal of its git plumbing."""

    path: Path
    mirror: Path
    commit: str
    job_id: str
    owned: OwnedGit | None = None
    seal: GitSeal | None = None


class WorktreeCache:
    """Bare mirrors under `cache_dir/mirrors`, job worktrees under `cache_dir/worktrees/<job_id>`."""

    def __init__(self, cache_dir: Path, fetch_timeout: float | None = 600.0) -> None:
        # Absolute, because git resolves worktree paths relative to the mirror it runs in.
        self.cache_dir = Path(cache_dir).resolve()
        self.mirrors_dir = self.cache_dir / "mirrors"
        self.worktrees_dir = self.cache_dir / "worktrees"
        # The farm's own git dirs of job worktrees; never bound into a sandbox.
        self.owned_dir = self.cache_dir / "owned"
        self.fetch_timeout = fetch_timeout

    def mirror_path(self, source: str) -> Path:
        """Where source's mirror lives (whether or not it exists yet)."""
        key = hashlib.sha256(normalize_source(source).encode()).hexdigest()[:MIRROR_KEY_LENGTH]
        return self.mirrors_dir / f"{key}.git"

    def mirrors(self) -> list[Path]:
        """Every complete mirror in the cache."""
        if not self.mirrors_dir.is_dir():
            return []
        return sorted(path for path in self.mirrors_dir.glob("*.git") if is_mirror(path))

    def mirror_for(self, source: str) -> Path:
        """source's bare mirror, created and fetched on first use."""
        mirror = self.mirror_path(source)
        with mirror_lock(mirror):
            if not is_mirror(mirror):
                self._create_mirror(mirror, source)
                self._fetch(mirror, source)
        return mirror

    def materialize(
        self,
        source: str,
        commit: str,
        job_id: str,
        fetch: Callable[[Path], None] | None = None,
        borrow: bool = False,
    ) -> Worktree:
        """A fresh detached worktree of commit at `worktrees/<job_id>`, fetching source if needed.

        `source` names the mirror; `fetch(mirror)`, when given, is how a missing commit is brought in
        instead of fetching `source` (other transports: a bundle, one ref of a remote). It runs under
        the mirror's lock, like every mirror mutation. `borrow` (a repo on this machine) lets the
        mirror read source's objects in place, so a new snapshot needs no fetch.
        """
        require_job_id(job_id)
        if not commit or commit.startswith("-"):
            raise GitOperationError(f"not a commit: {commit!r}", code=BAD_REVISION)
        mirror = self.mirror_path(source)
        path = self.worktrees_dir / job_id
        with mirror_lock(mirror):
            if not is_mirror(mirror):
                self._create_mirror(mirror, source)
            if borrow:
                borrow_objects(mirror, source)
            resolved = self._ensure_commit(mirror, source, commit, fetch)
            self._clear_leftover(mirror, path)
            self.worktrees_dir.mkdir(parents=True, exist_ok=True)
            # Register only; the (possibly slow) checkout below touches nothing shared, so it runs unlocked.
            run_git(mirror, "worktree", "add", "--detach", "--no-checkout", str(path), resolved)
            used_marker(mirror).touch()
        worktree = Worktree(path=path, mirror=mirror, commit=resolved, job_id=job_id)
        try:
            run_git(path, "reset", "--hard", "--quiet", resolved)
            owned = make_owned_git(mirror, path, self.owned_dir / f"{job_id}.git", resolved)
        except BaseException:
            self.remove(worktree)
            raise
        return Worktree(
            path=path, mirror=mirror, commit=resolved, job_id=job_id, owned=owned, seal=seal_of(path, mirror)
        )

    def remove(self, worktree: Worktree) -> None:
        """Delete the worktree, the farm's git dir of it and git's record of it; a no-op when already gone."""
        admin_dir = worktree.seal.admin_dir if worktree.seal is not None else None
        with mirror_lock(worktree.mirror):
            force_rmtree(self.owned_dir / f"{worktree.job_id}.git")
            if admin_dir is None:
                _remove_locked(worktree.mirror, worktree.path)
                return
            force_rmtree(worktree.path)
            # git's record of the worktree, as sealed before the job ran (even when the job pointed its
            # `gitdir` elsewhere): removing it is all `git worktree prune` would do, without a git process.
            force_rmtree(admin_dir)

    def prune_stale(self, active_job_ids: set[str]) -> list[str]:
        """Remove worktrees whose job is not active and git's records of them; return their job ids."""
        removed: list[str] = []
        if self.worktrees_dir.is_dir():
            for entry in sorted(self.worktrees_dir.iterdir()):
                if entry.name not in active_job_ids:
                    force_rmtree(entry)
                    removed.append(entry.name)
        if self.owned_dir.is_dir():
            for entry in self.owned_dir.iterdir():
                if entry.name.removesuffix(".git") not in active_job_ids:
                    force_rmtree(entry)
        for mirror in self.mirrors():
            with mirror_lock(mirror):
                run_git(mirror, "worktree", "prune")
        return removed

    def _create_mirror(self, mirror: Path, source: str) -> None:
        # Built under a temporary name and renamed, so a crash never leaves a half-made mirror behind.
        self.mirrors_dir.mkdir(parents=True, exist_ok=True)
        for abandoned in self.mirrors_dir.glob(f"{mirror.name}.init-*"):
            force_rmtree(abandoned)  # from a crashed earlier attempt; we hold this mirror's lock
        scratch = Path(tempfile.mkdtemp(prefix=f"{mirror.name}.init-", dir=self.mirrors_dir))
        run_git(scratch, "init", "--bare", "--quiet", ".")
        run_git(scratch, "config", "codex-farm.source", normalize_source(source))
        # Auto-gc in the foreground, i.e. inside our lock, never racing the next job's git commands.
        run_git(scratch, "config", "gc.autoDetach", "false")
        os.rename(scratch, mirror)

    def _fetch(self, mirror: Path, source: str) -> None:
        run_git(
            mirror,
            "fetch",
            "--quiet",
            "--no-tags",
            "--prune",
            normalize_source(source),
            *MIRROR_REFSPECS,
            timeout=self.fetch_timeout,
        )

    def _ensure_commit(
        self, mirror: Path, source: str, commit: str, fetch: Callable[[Path], None] | None = None
    ) -> str:
        # A full object id never changes meaning, so fetch only when it is missing; a name
        # (branch, tag, HEAD) may have moved in the source, so always refresh first.
        if FULL_OBJECT_ID.match(commit) and (present := resolve_commit(mirror, commit)):
            return present
        if fetch is None:
            self._fetch(mirror, source)
        else:
            fetch(mirror)
        resolved = resolve_commit(mirror, commit)
        if resolved is None:
            raise GitOperationError(f"commit {commit} not found in {source}", code=BAD_REVISION)
        return resolved

    def _clear_leftover(self, mirror: Path, path: Path) -> None:
        # A retried job may find its previous attempt's directory; start clean rather than fail.
        if path.exists() or path.is_symlink():
            _remove_locked(mirror, path)
        force_rmtree(self.owned_dir / f"{path.name}.git")


# The config `git init --bare` writes; a sha256 commit id (64 hex digits) needs the object-format extension.
_OWNED_SHA1_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
_OWNED_SHA256_CONFIG = (
    "[core]\n\trepositoryformatversion = 1\n\tfilemode = true\n\tbare = "
    "true\n[extensions]\n\tobjectformat = sha256\n"
)


def make_owned_git(mirror: Path, work_tree: Path, git_dir: Path, commit: str) -> OwnedGit:
    """The farm's own git dir for a fresh worktree: objects borrowed from the mirror, HEAD at commit,
    a copy of the fresh index (its stat data spares rehashing untouched files), config of git's defaults
    only."""
    # Laid out by hand as `git init --bare --template=` lays it out (gitrepository-layout(5)): a git
    # process here cost each job ~5 ms, and a git dir that runs nothing needs no template.
    for folder in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        (git_dir / folder).mkdir(parents=True, exist_ok=True)
    (git_dir / "config").write_text(_OWNED_SHA256_CONFIG if len(commit) == 64 else _OWNED_SHA1_CONFIG)
    (git_dir / "objects" / "info" / "alternates").write_text(f"{mirror.resolve() / 'objects'}\n")
    (git_dir / "HEAD").write_text(f"{commit}\n")
    shutil.copyfile(index_path(work_tree), git_dir / "index")
    return OwnedGit(work_tree=work_tree, git_dir=git_dir)


def seal_of(worktree: Path, mirror: Path) -> GitSeal:
    """The git plumbing of a fresh worktree and its mirror."""
    admin_dir = linked_git_dir(worktree)
    return GitSeal(
        git_link=_read_file(worktree / ".git"),
        admin_dir=admin_dir,
        admin_links=_links_in(admin_dir) if admin_dir is not None else (),
        mirror_config=_read_file(mirror / "config"),
    )


def tampering(worktree: Worktree) -> str | None:
    """What a job changed of the git plumbing the farm made (its `.git`, admin links, the mirror's config);
    None when intact."""
    seal = worktree.seal
    if seal is None:
        return None
    if _read_file(worktree.path / ".git") != seal.git_link:
        return "the worktree's .git file was changed"
    if seal.admin_dir is not None:
        now = _links_in(seal.admin_dir)
        changed = [name for (name, before), (_, after) in zip(seal.admin_links, now) if before != after]
        if changed:
            return f"the worktree's git admin dir was changed ({', '.join(changed)})"
    if _read_file(worktree.mirror / "config") != seal.mirror_config:
        return "the mirror's git config was changed"
    return None


def restore_mirror_config(worktree: Worktree) -> None:
    """Put the mirror's config back as it was sealed, so a tampered job does not steer the next one's git."""
    if worktree.seal is not None and worktree.seal.mirror_config is not None:
        with mirror_lock(worktree.mirror):
            config = worktree.mirror / "config"
            config.unlink(missing_ok=True)  # a symlink is replaced, never written through
            config.write_bytes(worktree.seal.mirror_config)


def _links_in(admin_dir: Path) -> tuple[tuple[str, bytes | None], ...]:
    return tuple((name, _read_file(admin_dir / name)) for name in ADMIN_LINKS)


def _read_file(path: Path) -> bytes | None:
    """A regular file's bytes; None when absent; a marker when it is anything else (a symlink, a dir)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return b"\0not a regular file"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def normalize_source(source: str) -> str:
    """An existing local path made absolute (git runs inside the mirror); URLs unchanged."""
    if "://" in source:
        return source
    path = Path(source).expanduser()
    try:
        exists = path.exists()
    except OSError:  # e.g. a path this worker may not search (another user's home): not ours to resolve
        exists = False
    return str(path.resolve()) if exists else source


def borrow_objects(mirror: Path, source: str) -> None:
    """Let a mirror of a repo on this machine read the repo's objects in place (git alternates).

    A snapshot commit is then in the mirror the moment the frontend writes it: no fetch per job,
    and no snapshot refs piling up in the mirror. A no-op for URLs and once set up."""
    alternates = mirror / "objects" / "info" / "alternates"
    if "://" in source or alternates.exists():
        return
    try:
        common_dir = run_git_text(
            Path(normalize_source(source)), "rev-parse", "--path-format=absolute", "--git-common-dir"
        )
    except GitOperationError:
        return  # unreadable or not a repo here: the fetch reports it
    objects = Path(common_dir) / "objects"
    if objects.is_dir():
        alternates.parent.mkdir(parents=True, exist_ok=True)
        alternates.write_text(f"{objects}\n")


def is_mirror(path: Path) -> bool:
    """True when path looks like a complete bare repository."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def has_commit(mirror: Path, commit: str) -> bool:
    """True when commit names a commit object present in mirror."""
    return git_succeeds(mirror, "cat-file", "-e", f"{commit}^{{commit}}")


def resolve_commit(mirror: Path, commit: str) -> str | None:
    """The full id of the commit that `commit` names in mirror, or None when it has none."""
    try:
        return run_git_text(mirror, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}") or None
    except GitOperationError:
        return None


def used_marker(mirror: Path) -> Path:
    """The file whose mtime records the mirror's last use (for LRU eviction)."""
    return mirror.with_name(mirror.name + ".used")


@contextmanager
def mirror_lock(mirror: Path) -> Iterator[None]:
    """Hold an exclusive flock on `<mirror>.lock`; serialises threads and processes alike."""
    lock_path = mirror.with_name(mirror.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh open file description per acquisition, so threads of one process exclude each other too.
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def force_rmtree(path: Path) -> None:
    """Delete a file or directory tree even if an agent left read-only files or dirs in it."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, onerror=_make_writable_and_retry)


def _make_writable_and_retry(_function, failed_path: str, _exc_info) -> None:
    # Deleting needs write+search on the parent, listing needs read on the dir itself.
    targets = [os.path.dirname(failed_path)]
    if not os.path.islink(failed_path):  # chmod would follow the link out of the tree
        targets.append(failed_path)
    for target in targets:
        with suppress(OSError):
            os.chmod(target, os.stat(target).st_mode | stat.S_IRWXU)
    if os.path.isdir(failed_path) and not os.path.islink(failed_path):
        shutil.rmtree(failed_path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            os.unlink(failed_path)


def _remove_locked(mirror: Path, path: Path) -> None:
    # By hand, never `git worktree remove`: that would read the worktree's (possibly tampered) `.git`.
    force_rmtree(path)
    if is_mirror(mirror):
        run_git(mirror, "worktree", "prune")
