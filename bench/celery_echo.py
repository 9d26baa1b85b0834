"""A bare Celery app with one trivial task: the raw Celery round trip bench.throughput compares the farm's
queue with.

Configured like the farm's app where it matters for throughput (JSON, late acks, prefetch 1) plus a
Redis result backend, and nothing else: no job store, no signals, no housekeeping. Its workers read
the broker from BENCH_REDIS_URL."""

import os
import sys

from celery import Celery

ECHO = "bench.echo"

app = Celery("bench_echo")
app.conf.update(
    broker_url=os.environ.get("BENCH_REDIS_URL"),
    result_backend=os.environ.get("BENCH_REDIS_URL"),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
)


@app.task(name=ECHO)
def echo(value: int) -> int:
    """Return the value: the whole job is the round trip."""
    return value


def use_broker(redis_url: str) -> None:
    """Point this process's app (the sending side) at the bench's Redis."""
    app.conf.update(broker_url=redis_url, result_backend=redis_url)


def worker_command(queue: str, name: str, concurrency: int) -> list[str]:
    """argv of one bare worker on queue (prefork, like the farm's workers)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.celery_echo",
        "worker",
        f"--queues={queue}",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
    ]
