"""The Celery app: configured for hour-long subprocess jobs on Redis, JSON only."""

import functools
import socket

import redis
from celery import Celery

from tasks.settings import FarmSettings

RUN_JOB = "codex_farm.run_job"


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
        # With late ack, a job whose worker lost the broker would be redelivered while still running.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": settings.default_queue.split(",")[0],
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
    }


@functools.cache
def farm_settings() -> FarmSettings:
    """The farm settings of this process, read once."""
    return FarmSettings()


app = Celery("codex_farm")
app.conf.update(celery_config(farm_settings()))


@functools.cache
def worker_context():
    """Per-process worker state (Redis client, caches); built lazily in each pool process."""
    from adapter.redaction import Redactor
    from tasks.pipeline import WorkerContext
    from tasks.store import JobStore
    from tasks.known_secrets import known_secrets
    from tasks.worktree import WorktreeCache

    settings = farm_settings()
    client = redis.Redis.from_url(settings.redis_url, health_check_interval=10, socket_keepalive=True)
    store = JobStore(client, settings.key_prefix, settings.job_ttl_s, settings.log_max_entries)
    name = f"{socket.gethostname()}:{__import__('os').getpid()}"
    return WorkerContext(settings, store, WorktreeCache(settings.cache_dir), Redactor(known_secrets(settings)), name)


@app.task(name=RUN_JOB)
def run_job(payload: dict) -> str:
    """Celery entry point of a job; the job record in Redis carries the real outcome."""
    from tasks.pipeline import execute_job

    return execute_job(payload, worker_context())
