"""`codex-farm worker`: a Celery worker consuming farm queues."""

import os

from farm_core.key_guard import make_undumpable
from tasks import sandbox, worker_metrics

# The farm's app as a worker runs it: with the job task and the worker's hooks registered on it.
from tasks.celery_app import app
from tasks.settings import worker_settings


def run_worker(queues: str | None, concurrency: int, loglevel: str) -> None:
    """Start the Celery worker in this process (prefork pool, one job per pool process)."""
    # REDIS_URL and ADAPTER_TOKEN: no unsandboxed agent of this user reads them from /proc (pool processes
    # inherit it over fork; an agent, exec'd, is dumpable again and holds neither).
    make_undumpable()
    settings = worker_settings()
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        # warns loudly, or refuses to start, when bwrap is asked for but unusable
        sandbox.check_at_start(settings)
    except sandbox.SandboxUnavailable as exc:
        raise SystemExit(f"codex-farm worker: {exc}") from None
    # before the pool forks: its processes must inherit the metrics directory
    worker_metrics.prepare(settings)
    argv = [
        "worker",
        f"--queues={queues or settings.default_queue}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--hostname=farm-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--pool=prefork",
    ]
    app.worker_main(argv)
