"""The host's registry of worker caches: what it records, what it keeps, and which entries it trusts."""

import os
import stat

import pytest

from tasks.cache_registry import ENTRY_SUFFIX, REGISTRY_MODE, register_cache, registered_caches

NOBODY = 65534


def test_a_cache_is_recorded_once_with_modes_every_worker_of_the_host_can_use(tmp_path):
    registry, cache = tmp_path / "registry", tmp_path / "cache"
    cache.mkdir()
    entry = register_cache(registry, cache)
    assert register_cache(registry, cache) == entry
    assert [path.name for path in registry.iterdir()] == [entry.name]
    assert stat.S_IMODE(registry.stat().st_mode) == REGISTRY_MODE
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644
    assert registered_caches(registry) == [cache.resolve()]


def test_an_entry_outlives_its_worker_but_not_its_cache(tmp_path):
    registry, kept, removed = tmp_path / "registry", tmp_path / "kept", tmp_path / "removed"
    for cache in (kept, removed):
        cache.mkdir()
        register_cache(registry, cache)
    removed.rmdir()
    assert registered_caches(registry) == [kept]
    assert len(list(registry.glob(f"*{ENTRY_SUFFIX}"))) == 1, "the gone cache's entry is pruned"


def test_entries_that_name_no_absolute_folder_are_ignored(tmp_path):
    registry, cache = tmp_path / "registry", tmp_path / "cache"
    cache.mkdir()
    register_cache(registry, cache)
    (registry / f"root{ENTRY_SUFFIX}").write_text("/\n")
    (registry / f"relative{ENTRY_SUFFIX}").write_text("cache\n")
    (registry / f"link{ENTRY_SUFFIX}").symlink_to(next(registry.glob(f"*{ENTRY_SUFFIX}")))
    assert registered_caches(registry) == [cache]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_an_entry_counts_only_when_its_owner_owns_the_folder(tmp_path):
    registry, theirs, system = tmp_path / "registry", tmp_path / "theirs", tmp_path / "system"
    for folder in (theirs, system):
        folder.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    for folder in (theirs, system):
        os.chown(register_cache(registry, folder), NOBODY, NOBODY)  # another user's worker wrote both
    assert registered_caches(registry) == [theirs], (
        "another user must not make sandboxes hide folders not theirs"
    )
