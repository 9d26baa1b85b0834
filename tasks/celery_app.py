"""The worker's side of the farm's Celery app (farm_core/queue.py): the job task, the worker's signal hooks
and its per-process state. `celery -A tasks.celery_app` (Flower, a worker) sees the app with the task
registered."""

import ctypes
import functools
import logging
import os
import signal
import socket

from celery import signals

from farm_core import process_tree
from farm_core.known_secrets import known_secrets
from farm_core.queue import RUN_JOB, app
from farm_core.reconciler import Reconciler
from farm_core.redaction import Redactor
from farm_core.store import job_store
from tasks import cache_registry, worker_metrics
from tasks.job_entry import execute_job
from tasks.leftovers import clear_abandoned_jobs
from tasks.pipeline import WorkerContext
from tasks.settings import worker_settings
from tasks.worktree import WorktreeCache

PR_SET_PDEATHSIG = 1
log = logging.getLogger("codex_farm.worker")


@functools.cache
def worker_context():
    """Per-process worker state (Redis client, caches); built lazily in each pool process."""
    settings = worker_settings()
    name = f"{socket.gethostname()}:{os.getpid()}"
    return WorkerContext(
        settings,
        job_store(settings),
        WorktreeCache(settings.cache_dir),
        Redactor(known_secrets(settings)),
        name,
    )


@signals.worker_process_init.connect
def _die_with_the_worker(**_) -> None:
    """A pool process (and so its agent) dies with the worker, so a killed worker leaves no job running."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@signals.worker_process_init.connect
def _adopt_the_jobs_orphans(**_) -> None:
    """A pool process adopts whatever its job orphans (double-forked daemons), so the job's clean-up kills
    them even without the FARM_JOB_ID marker (farm_core/process_tree.py)."""
    process_tree.become_subreaper()


@signals.task_postrun.connect
def _reap_the_jobs_orphans(**_) -> None:
    """Collect the adopted orphans the job's clean-up killed: no zombie of a job outlives it."""
    process_tree.reap_orphans()


@signals.worker_init.connect
def _record_the_cache_on_the_host(**_) -> None:
    """This worker's cache joins the host's registry: no sandboxed job of any worker here can read it."""
    settings = worker_settings()
    cache_registry.record_or_warn(settings.cache_registry, settings.cache_dir)


@signals.worker_ready.connect
def _start_housekeeping(sender=None, **_) -> None:
    """At start: prune worktrees, processes and homes left by a crash, then reconcile silent jobs
    periodically."""
    settings = worker_settings()
    store = job_store(settings)
    removed = WorktreeCache(settings.cache_dir).prune_stale(set(store.running_ids()))
    if removed:
        log.warning("pruned %d stale worktree(s) from an earlier run", len(removed))
    cleared = clear_abandoned_jobs(settings.cache_dir, store.running_ids)
    if cleared:
        log.warning(
            "stopped the processes and removed the homes of %d job(s) an earlier run left", len(cleared)
        )
    _housekeeping.append(Reconciler(store, settings))
    _housekeeping[-1].start()
    worker_metrics.serve(settings)


@signals.worker_shutdown.connect
def _stop_housekeeping(**_) -> None:
    for reconciler in _housekeeping:
        reconciler.stop()
    worker_metrics.clean_up()


_housekeeping: list = []


@app.task(name=RUN_JOB)
def run_job(payload: dict) -> str:
    """Celery entry point of a job; the job record in Redis carries the real outcome."""
    return execute_job(payload, worker_context())
