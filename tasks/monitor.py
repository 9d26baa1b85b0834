"""Watches a running job from a side thread: heartbeats, cancel requests, the deadline."""

import threading
import time
from pathlib import Path

import redis

from farm_core.process_tree import kill_job_processes
from farm_core.store import JobStore

# How often the watcher looks for a cancel message and at the deadline. Reading pub/sub without
# blocking costs no Redis command, and the wait in between ends the moment the job does.
POLL_S = 0.05


class JobMonitor:
    """Heartbeats the job and, on cancel or timeout, kills every process of it within a second."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        worker: str,
        deadline: float,
        heartbeat_s: float,
        agent_pidfile: Path,
    ):
        self.store, self.job_id, self.worker, self.deadline = store, job_id, worker, deadline
        self.heartbeat_s = heartbeat_s
        self.agent_pidfile = agent_pidfile
        self.stopped = threading.Event()  # set when the job must stop (cancel or timeout)
        self.stop_reason: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"monitor-{job_id}", daemon=True)

    def __enter__(self) -> "JobMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        pubsub = self.store.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.store.keys(self.job_id).events)
        last_beat = 0.0
        try:
            while not self._done.wait(timeout=POLL_S):
                flag_checked = False
                if time.monotonic() - last_beat >= self.heartbeat_s:
                    self._beat()
                    last_beat, flag_checked = time.monotonic(), True
                # The cancel flag is read once per heartbeat, in case a pub/sub message was lost on a
                # reconnect.
                if self._cancel_arrived(pubsub) or (flag_checked and self._cancel_flagged()):
                    self.stop("cancelled")
                elif time.time() > self.deadline:
                    self.stop("timed_out")
        finally:
            pubsub.close()

    def _beat(self) -> None:
        try:
            if not self.store.heartbeat(self.job_id, self.worker):
                self.stop("superseded")  # the job was handed to another worker while we were silent
        except redis.RedisError:
            pass  # Redis may be restarting; the next beat retries

    def _cancel_flagged(self) -> bool:
        try:
            return self.store.cancel_requested(self.job_id)
        except redis.RedisError:
            return False

    def _cancel_arrived(self, pubsub) -> bool:
        try:
            message = pubsub.get_message(timeout=0.0)
        except redis.RedisError:
            return False
        return bool(message and message.get("data") == b"cancel")

    def stop(self, reason: str) -> None:
        """Record why the job stops (first reason wins) and kill its processes."""
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()
        self.kill_all()

    def kill_all(self) -> list[int]:
        """Kill the agent's session and every other process carrying the job's marker (checks, daemons)."""
        return kill_job_processes(self.job_id, known_groups=self._agent_group())

    def _agent_group(self) -> list[int]:
        try:
            return [int(self.agent_pidfile.read_text().strip())]
        except (OSError, ValueError):
            return []
