"""Keeps a worker's mirror cache under WORKER_CACHE_MAX_GB by evicting least-recently-used mirrors."""

import os
from dataclasses import dataclass
from pathlib import Path

from tasks.worktree import WorktreeCache, force_rmtree, mirror_lock, used_marker


@dataclass(frozen=True)
class MirrorUsage:
    """One mirror's size and when a job last used it."""

    mirror: Path
    size_bytes: int
    last_used: float


def tree_size(path: Path) -> int:
    """Bytes of regular files under path (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while we walked
    return total


def mirror_usage(cache: WorktreeCache) -> list[MirrorUsage]:
    """Every mirror of the cache, least recently used first."""
    usages = []
    for mirror in cache.mirrors():
        marker = used_marker(mirror)
        last_used = marker.stat().st_mtime if marker.exists() else mirror.stat().st_mtime
        usages.append(MirrorUsage(mirror, tree_size(mirror), last_used))
    return sorted(usages, key=lambda usage: usage.last_used)


def evict_to_fit(cache: WorktreeCache, max_bytes: int) -> list[Path]:
    """Delete least-recently-used mirrors with no live worktree until the cache fits; returns what went."""
    usages = mirror_usage(cache)
    total = sum(usage.size_bytes for usage in usages)
    evicted = []
    for usage in usages:
        if total <= max_bytes:
            break
        with mirror_lock(usage.mirror):
            if has_live_worktrees(usage.mirror):
                continue  # a running job needs it; it goes next time
            force_rmtree(usage.mirror)
            used_marker(usage.mirror).unlink(missing_ok=True)
        total -= usage.size_bytes
        evicted.append(usage.mirror)
    return evicted


def has_live_worktrees(mirror: Path) -> bool:
    """True when git still tracks a worktree of this mirror whose folder exists."""
    registry = mirror / "worktrees"
    if not registry.is_dir():
        return False
    for entry in registry.iterdir():
        gitdir = entry / "gitdir"
        if gitdir.exists() and Path(gitdir.read_text().strip()).exists():
            return True
    return False
