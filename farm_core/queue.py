"""The farm's Celery app and the sending side of its queues: configured for hour-long subprocess jobs on
Redis, JSON only (signed when FARM_SIGNING_* are set). Frontends send with it; workers (tasks/celery_app.py)
add the task and their hooks to the same app."""

import functools
import re

from celery import Celery

from farm_core.job_models import JobSpec
from farm_core.redis_tls import celery_tls_config
from farm_core.settings import FarmSettings
from farm_core.signing import enable_signing_or_exit, signing_config

RUN_JOB = "codex_farm.run_job"
PROMPT_PREVIEW_CHARS = 80
# A home directory in the prompt (`/home/<user>`, `/Users/<user>`, `/root`) shows as `~` in Flower.
HOME_DIR = re.compile(r"(?<![\w.~-])(?:/home/[^/\s'\"]+|/Users/[^/\s'\"]+|/root)(?=[/\s'\"]|$)")
# The worker's consumer (Celery's `worker_consumer`); named, not imported, as Celery loads it only in a
# worker.
DEAD_LETTER_CONSUMER = "tasks.dead_letter:DeadLetterConsumer"


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
        # job still runs cannot start twice: claiming needs the job's lease (see farm_core/store.py).
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
        # A message the worker cannot run is acked and dead-lettered instead of stopping it (see
        # tasks/dead_letter.py).
        "worker_consumer": DEAD_LETTER_CONSUMER,
        # A rediss:// REDIS_URL: verify Redis's certificate (see farm_core/redis_tls.py).
        **celery_tls_config(settings.redis_url),
        # FARM_SIGNING_*: task and control messages signed and verified (see farm_core/signing.py).
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
