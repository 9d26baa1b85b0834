"""Finds running jobs whose worker went silent: requeues them within the attempts cap, else ends them lost."""

import logging
import threading

import redis

from farm_core.job_models import CompactResult, JobStatus
from farm_core.process_tree import kill_job_processes
from farm_core.queue import send_job
from farm_core.settings import FarmSettings
from farm_core.store import JobStore

log = logging.getLogger("codex_farm.reconciler")


def reconcile_job(store: JobStore, job_id: str, settings: FarmSettings) -> str:
    """Act on one job if its heartbeat lapsed past the grace; returns 'requeue', 'lost' or 'ok'."""
    record = store.get(job_id)
    if record is None or record.status.terminal:
        store.release(job_id)  # a stale entry of the running set
        return "ok"
    if record.status != JobStatus.running:
        return "ok"
    decision = store.reconcile(job_id, settings.lost_grace_s, settings.max_attempts)
    silent = f"worker {record.worker or '?'} stopped heartbeating"
    if decision in ("requeue", "lost"):
        _kill_leftovers(store, job_id, record.worker)
    if decision == "requeue":
        store.append_log(
            job_id, "status", f"{silent}; requeued (attempt {record.attempts + 1} of {settings.max_attempts})"
        )
        send_job(record.spec, attempt=record.attempts + 1)
        store.publish(job_id, JobStatus.queued)
    elif decision == "lost":
        reason = f"{silent} and the job used its {settings.max_attempts} attempt(s) (FARM_MAX_ATTEMPTS)"
        result = CompactResult(job_id=job_id, job_status=JobStatus.lost, error=reason)
        store.set_fields(job_id, error=reason, result=result.model_dump_json())
        store.append_log(job_id, "status", f"lost: {reason}")
        store.publish(job_id, JobStatus.lost)
    return decision


def _kill_leftovers(store: JobStore, job_id: str, worker: str | None) -> None:
    """End what the silent run left on this host, before the job runs again or is declared lost.

    A killed worker takes its agent along, but not the commands the agent or a check started in
    sessions of their own (background tasks, daemons); they carry the job's marker."""
    killed = kill_job_processes(job_id)
    if killed:
        store.append_log(
            job_id, "status", f"stopped {len(killed)} process(es) left by worker {worker or '?'}"
        )


def reconcile_all(store: JobStore, settings: FarmSettings) -> dict[str, str]:
    """Reconcile every job marked running; returns the decisions that changed something."""
    decisions = {job_id: reconcile_job(store, job_id, settings) for job_id in store.running_ids()}
    return {job_id: d for job_id, d in decisions.items() if d != "ok"}


class Reconciler:
    """A daemon thread in each worker that reconciles every FARM_RECONCILE_S."""

    def __init__(self, store: JobStore, settings: FarmSettings):
        self.store, self.settings = store, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="farm-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.reconcile_s):
            try:
                for job_id, decision in reconcile_all(self.store, self.settings).items():
                    log.warning("job %s: %s", job_id, decision)
            except redis.RedisError as exc:
                log.warning("reconciler: Redis unavailable (%s); retrying", type(exc).__name__)
