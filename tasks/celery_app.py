"""The Celery app: configured for hour-long subprocess jobs on Redis, JSON only (signed when FARM_SIGNING_* are set)."""

import ctypes
import functools
import logging
import os
import re
import signal
import socket

from celery import Celery, signals

from tasks import cache_registry, process_tree, worker_metrics
from tasks.redis_tls import celery_tls_config
from tasks.signing import enable_signing_or_exit, signing_config
from tasks.job_models import JobSpec
from tasks.settings import FarmSettings

RUN_JOB = "codex_farm.run_job"
PROMPT_PREVIEW_CHARS = 80
# A home directory in the prompt (`/home/<user>`, `/Users/<user>`, `/root`) shows as `~` in Flower.
HOME_DIR = re.compile(r"(?<![\w.~-])(?:/home/[^/\s'\"]+|/Users/[^/\s'\"]+|/root)(?=[/\s'\"]|$)")
PR_SET_PDEATHSIG = 1
# The worker's consumer (Celery's `worker_consumer`); named, not imported, as Celery loads it only in a worker.
DEAD_LETTER_CONSUMER = "tasks.dead_letter:DeadLetterConsumer"
log = logging.getLogger("codex_farm.worker")


def celery_config(settings: FarmSettings) -> dict:
    """Celery settings for jobs that run for up to hours and must never be lost or run twice at once."""
    transport = {"visibility_timeout": settings.visibility_timeout_s}
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        # Redelivered after a worker dies mid-job instead of being dropped.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Off on purpose: a Redis restart must not kill hour-long jobs. A copy redelivered while the
        # job still runs cannot start twice: claiming needs the job's lease (see tasks/store.py).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_connection_max_retries": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": settings.default_queue.split(",")[0],
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        # A message the worker cannot run is acked and dead-lettered instead of stopping it (see tasks/dead_letter.py).
        "worker_consumer": DEAD_LETTER_CONSUMER,
        # A rediss:// REDIS_URL: verify Redis's certificate (see tasks/redis_tls.py).
        **celery_tls_config(settings.redis_url),
        # FARM_SIGNING_*: task and control messages signed and verified (see tasks/signing.py).
        **signing_config(settings),
    }


@functools.cache
def farm_settings() -> FarmSettings:
    """The farm settings of this process, read once."""
    return FarmSettings()


app = Celery("codex_farm")
app.conf.update(celery_config(farm_settings()))
# Registers the signing serializer; a signing file that is set but unusable stops the process here.
enable_signing_or_exit(app, farm_settings())


def job_store(settings: FarmSettings, retries: int | None = None):
    """A JobStore on a reconnecting Redis client."""
    from tasks.redis_client import RETRIES, connect
    from tasks.store import JobStore

    client = connect(settings.redis_url, RETRIES if retries is None else retries)
    return JobStore(client, settings.key_prefix, settings.job_ttl_s, settings.log_max_entries, settings.lease_s)


@functools.cache
def worker_context():
    """Per-process worker state (Redis client, caches); built lazily in each pool process."""
    from adapter.redaction import Redactor
    from tasks.known_secrets import known_secrets
    from tasks.pipeline import WorkerContext
    from tasks.worktree import WorktreeCache

    settings = farm_settings()
    name = f"{socket.gethostname()}:{os.getpid()}"
    return WorkerContext(settings, job_store(settings), WorktreeCache(settings.cache_dir), Redactor(known_secrets(settings)), name)


def send_job(spec: JobSpec, attempt: int = 1) -> None:
    """Hand a job to Celery on its queue; Flower shows the job id, queue and a short prompt, or a shell job's
    command (both redacted at the frontend, home dirs shortened)."""
    label, text = ("command", spec.checks[0].command) if spec.kind == "shell" else ("prompt", spec.prompt)
    preview = HOME_DIR.sub("~", text)[:PROMPT_PREVIEW_CHARS].replace("\n", " ")
    app.send_task(
        RUN_JOB,
        args=[spec.model_dump(mode="json")],
        task_id=spec.job_id if attempt == 1 else f"{spec.job_id}-{attempt}",
        queue=spec.queue,
        argsrepr=f"job={spec.job_id} queue={spec.queue} attempt={attempt} {label}={preview!r}",
        kwargsrepr="{}",
    )


@signals.worker_process_init.connect
def _die_with_the_worker(**_) -> None:
    """A pool process (and so its agent) dies with the worker, so a killed worker leaves no job running."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@signals.worker_process_init.connect
def _adopt_the_jobs_orphans(**_) -> None:
    """A pool process adopts whatever its job orphans (double-forked daemons), so the job's clean-up kills them
    even without the FARM_JOB_ID marker (tasks/process_tree.py)."""
    process_tree.become_subreaper()


@signals.task_postrun.connect
def _reap_the_jobs_orphans(**_) -> None:
    """Collect the adopted orphans the job's clean-up killed: no zombie of a job outlives it."""
    process_tree.reap_orphans()


@signals.worker_init.connect
def _record_the_cache_on_the_host(**_) -> None:
    """This worker's cache joins the host's registry: no sandboxed job of any worker here can read it."""
    settings = farm_settings()
    cache_registry.record_or_warn(settings.cache_registry, settings.cache_dir)


@signals.worker_ready.connect
def _start_housekeeping(sender=None, **_) -> None:
    """At start: prune worktrees, processes and homes left by a crash, then reconcile silent jobs periodically."""
    from tasks.leftovers import clear_abandoned_jobs
    from tasks.reconciler import Reconciler
    from tasks.worktree import WorktreeCache

    settings = farm_settings()
    store = job_store(settings)
    removed = WorktreeCache(settings.cache_dir).prune_stale(set(store.running_ids()))
    if removed:
        log.warning("pruned %d stale worktree(s) from an earlier run", len(removed))
    cleared = clear_abandoned_jobs(settings.cache_dir, store.running_ids)
    if cleared:
        log.warning("stopped the processes and removed the homes of %d job(s) an earlier run left", len(cleared))
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
    from tasks.pipeline import execute_job

    return execute_job(payload, worker_context())
