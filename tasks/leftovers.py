"""What a killed worker leaves on its host besides worktrees: job processes that outlived it, and job homes.

A job's home is `<WORKER_CACHE_DIR>/homes/<job id>`; the pipeline removes it when the job ends, so a
home found when a worker starts belongs to a run that never finished."""

from collections.abc import Callable, Iterable
from pathlib import Path

from farm_core.process_tree import kill_job_processes
from tasks.worktree import force_rmtree

HOMES_DIR = "homes"


def job_home(cache_dir: Path, job_id: str) -> Path:
    """The private HOME of a job on a worker (agent pidfile, CLI state, TMPDIR)."""
    return cache_dir / HOMES_DIR / job_id


def clear_abandoned_jobs(cache_dir: Path, running_ids: Callable[[], Iterable[str]]) -> list[str]:
    """Kill the processes of every job with a home here that is not running, remove its home; returns their
    ids.

    The homes are listed before `running_ids()` is asked: a job claimed in between makes its home
    after the listing, so it is never taken for abandoned."""
    homes = cache_dir / HOMES_DIR
    found = sorted(path for path in homes.iterdir() if path.is_dir()) if homes.is_dir() else []
    if not found:
        return []
    running = set(running_ids())
    cleared = []
    for home in found:
        if home.name in running:
            continue
        kill_job_processes(home.name)
        force_rmtree(home)
        cleared.append(home.name)
    return cleared
