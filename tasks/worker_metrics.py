"""Prometheus metrics of a worker on `WORKER_METRICS_PORT` (off by default).

Jobs run in the prefork pool's child processes, but the metrics port is served by the worker's main
process, so the counts must cross processes. prometheus_client's multiprocess mode does exactly
that: each pool process adds to memory-mapped files in a directory private to this worker
(`PROMETHEUS_MULTIPROC_DIR`, set before the pool forks), and the main process sums those files on
every scrape. Counters of a pool process that has exited stay in its file, so nothing is lost when
Celery replaces a child. Nothing here talks to Redis: a scrape costs a few file reads.
"""

import logging
import os
import shutil
import tempfile

from tasks.settings import WorkerSettings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Jobs last from seconds to hours.
DURATION_BUCKETS_S = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800)
log = logging.getLogger("codex_farm.worker")

_metrics: dict[str, object] = {}


def prepare(settings: WorkerSettings) -> None:
    """In the worker's main process, before the pool forks: a fresh metrics directory for this worker."""
    if not settings.metrics_port:
        return
    os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="codex-farm-worker-metrics-")
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        log.warning(
            "prometheus_client was imported before %s was set; job metrics will stay empty", MULTIPROC_ENV
        )


def serve(settings: WorkerSettings) -> None:
    """In the main process once the worker is ready: serve the sum of every pool process's metrics."""
    if not settings.metrics_port or not os.environ.get(MULTIPROC_ENV):
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        log.error(
            "worker metrics: cannot listen on %s:%d: %s", settings.metrics_host, settings.metrics_port, exc
        )
        return
    log.info("worker metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)


def job_finished(settings: WorkerSettings, queue: str, status: str, duration_s: float) -> None:
    """In the pool process that ran the job: count its final status and observe its duration."""
    if not settings.metrics_port or not os.environ.get(MULTIPROC_ENV):
        return
    try:
        jobs, duration = _job_metrics()
        jobs.labels(queue, status).inc()
        duration.labels(queue, status).observe(max(duration_s, 0.0))
    except Exception as exc:  # metrics must never change a job's outcome
        log.warning("job metrics not recorded: %s: %s", type(exc).__name__, exc)


def clean_up() -> None:
    """At worker shutdown: remove this worker's metrics directory."""
    folder = os.environ.get(MULTIPROC_ENV, "")
    if os.path.basename(folder).startswith("codex-farm-worker-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)


def _job_metrics():
    """The metric objects, created on first use in the pool process (after the fork)."""
    if not _metrics:
        from prometheus_client import Counter, Histogram

        _metrics["jobs"] = Counter(
            "codex_farm_worker_jobs",
            "Jobs this worker ran to an end, by queue and final status.",
            ["queue", "status"],
        )
        _metrics["duration"] = Histogram(
            "codex_farm_worker_job_duration_seconds",
            "Time from claiming a job to recording its final status.",
            ["queue", "status"],
            buckets=DURATION_BUCKETS_S,
        )
    return _metrics["jobs"], _metrics["duration"]
