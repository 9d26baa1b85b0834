"""The host's record of worker caches, so that a sandboxed job sees none of them, not only its own worker's.

Every worker records its `WORKER_CACHE_DIR` in `WORKER_CACHE_REGISTRY` when it starts: one file per cache,
named by a hash of the path and holding the path. Entries outlive their worker (a stopped or killed worker's
cache still holds worktrees, job homes and transcripts); an entry goes only once its folder is gone. The
sandbox (tasks/sandbox.py) hides every registered cache. An entry counts only when its owner owns the folder
it names (or is root): another user of the host cannot make sandboxes hide folders that are not theirs.
"""

import hashlib
import logging
import os
import stat
from pathlib import Path

# Like /tmp: workers of every user of the host add entries; only an entry's owner can replace or remove it.
REGISTRY_MODE = 0o1777
ENTRY_MODE = 0o644
ENTRY_SUFFIX = ".cache"
_ENTRY_MAX_BYTES = 4096
log = logging.getLogger("codex_farm.worker")


def register_cache(registry: Path, cache_dir: Path) -> Path:
    """Record `cache_dir` in the registry (again is a no-op); returns its entry. OSError when the registry
    is unusable."""
    cache = cache_dir.resolve()
    _make_registry(registry)
    entry = registry / f"{hashlib.sha256(str(cache).encode()).hexdigest()[:32]}{ENTRY_SUFFIX}"
    if _named_path(entry) == cache:
        return entry
    # Written aside, then renamed: a reader never sees half an entry.
    partial = registry / f".{entry.name}.{os.getpid()}"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, ENTRY_MODE)
    try:
        with os.fdopen(descriptor, "w") as written:
            written.write(f"{cache}\n")
        os.chmod(partial, ENTRY_MODE)  # whatever the umask: every worker of the host must read it
        os.replace(partial, entry)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return entry


def registered_caches(registry: Path) -> list[Path]:
    """Every folder the registry names that still exists and that its entry's owner may hide; prunes our
    stale entries."""
    try:
        entries = sorted(registry.glob(f"*{ENTRY_SUFFIX}"))
    except OSError:
        return []
    found = []
    for entry in entries:
        cache = _named_path(entry)
        if cache is None:
            continue
        if not cache.is_dir():
            _forget(entry)
        elif _may_hide(entry, cache):
            found.append(cache)
    return list(dict.fromkeys(found))


def caches_to_hide(registry: Path, own_cache: Path, hidden: list[Path]) -> list[Path]:
    """The other registered caches a sandbox must hide: outermost first, none inside its own cache or a
    hidden path.

    (A folder inside a hidden one is covered already; mounting it first would break the sandbox's later
    remount.)"""
    own = own_cache.resolve()
    covering = [own, *(path.resolve() for path in hidden)]
    others = sorted(
        (path for path in registered_caches(registry) if not _inside_any(path, covering)),
        key=lambda p: len(p.parts),
    )
    outermost: list[Path] = []
    for path in others:
        if not _inside_any(path, outermost):
            outermost.append(path)
    return outermost


def record_or_warn(registry: Path, cache_dir: Path) -> None:
    """register_cache at worker start; a registry that cannot be written is logged, not fatal."""
    try:
        register_cache(registry, cache_dir)
    except OSError as exc:
        log.warning(
            "cannot record WORKER_CACHE_DIR %s in WORKER_CACHE_REGISTRY %s (%s): "
            "sandboxed jobs of other workers on this host may read this cache",
            cache_dir,
            registry,
            exc.strerror or type(exc).__name__,
        )


def _make_registry(registry: Path) -> None:
    try:
        registry.mkdir(parents=True)
    except FileExistsError:
        if not registry.is_dir() or registry.is_symlink():
            raise NotADirectoryError(f"{registry} is not a folder") from None
        return
    os.chmod(registry, REGISTRY_MODE)  # mkdir's mode is cut by the umask


def _named_path(entry: Path) -> Path | None:
    """The absolute folder a regular entry file names; None for anything else."""
    try:
        if not stat.S_ISREG(entry.lstat().st_mode):
            return None
        with open(entry, "rb") as opened:
            text = opened.read(_ENTRY_MAX_BYTES).decode(errors="replace").strip()
    except OSError:
        return None
    path = Path(text)
    return path if text and path.is_absolute() and path != Path(path.anchor) else None


def _may_hide(entry: Path, cache: Path) -> bool:
    try:
        owner = entry.lstat().st_uid
        return owner == 0 or owner == cache.stat().st_uid
    except OSError:
        return False


def _forget(entry: Path) -> None:
    """Drop the entry of a cache that is gone, when it is ours to drop (the sticky registry refuses
    others')."""
    try:
        if entry.lstat().st_uid == os.geteuid():
            entry.unlink()
    except OSError:
        pass


def _inside_any(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)
