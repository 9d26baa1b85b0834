"""Mirror cache eviction: least recently used first, never a mirror with a live worktree."""

import os

from tasks.cache_limits import evict_to_fit, has_live_worktrees, mirror_usage, tree_size
from tasks.worktree import WorktreeCache, used_marker
from tests.fixtures.git_repos import git


def cached(make_repo, cache: WorktreeCache, name: str, used_at: float):
    repo = make_repo({"data.txt": name * 5000}, name=name)
    mirror = cache.mirror_for(str(repo))
    used_marker(mirror).touch()
    os.utime(used_marker(mirror), (used_at, used_at))
    return repo, mirror


def test_least_recently_used_mirrors_go_first_until_the_cache_fits(make_repo, tmp_path):
    cache = WorktreeCache(tmp_path / "cache")
    _, old = cached(make_repo, cache, "old", 1_000)
    _, middle = cached(make_repo, cache, "middle", 2_000)
    _, new = cached(make_repo, cache, "new", 3_000)
    sizes = {u.mirror: u.size_bytes for u in mirror_usage(cache)}
    assert [u.mirror for u in mirror_usage(cache)] == [old, middle, new]

    evicted = evict_to_fit(cache, max_bytes=sizes[new] + sizes[middle])

    assert evicted == [old]
    assert not old.exists() and middle.exists() and new.exists()
    assert tree_size(cache.cache_dir / "mirrors") <= sizes[new] + sizes[middle]


def test_a_mirror_with_a_live_worktree_is_kept(make_repo, tmp_path):
    cache = WorktreeCache(tmp_path / "cache")
    repo, busy = cached(make_repo, cache, "busy", 1_000)
    _, idle = cached(make_repo, cache, "idle", 2_000)
    worktree = cache.materialize(str(repo), git(repo, "rev-parse", "HEAD").strip(), "job-live")
    assert has_live_worktrees(busy)

    assert evict_to_fit(cache, max_bytes=1) == [idle]
    assert busy.exists() and worktree.path.exists()

    cache.remove(worktree)
    assert not has_live_worktrees(busy)
    assert evict_to_fit(cache, max_bytes=1) == [busy]


def test_nothing_is_evicted_under_the_cap(make_repo, tmp_path):
    cache = WorktreeCache(tmp_path / "cache")
    cached(make_repo, cache, "only", 1_000)
    assert evict_to_fit(cache, max_bytes=10**12) == []
