"""The Redis key layout: every farm key is built here and nowhere else."""

from dataclasses import dataclass


@dataclass(frozen=True)
class JobKeys:
    """Keys of one job under the farm prefix."""

    prefix: str
    job_id: str

    @property
    def record(self) -> str:
        return f"{self.prefix}job:{self.job_id}"

    @property
    def log(self) -> str:
        return f"{self.record}:log"

    @property
    def log_gap(self) -> str:
        """Hash of where the log cap dropped lines: the head's last entry id and how many lines went after
        it."""
        return f"{self.log}:gap"

    @property
    def patch(self) -> str:
        return f"{self.record}:patch"

    @property
    def cancel(self) -> str:
        return f"{self.record}:cancel"

    @property
    def bundle(self) -> str:
        """The snapshot bundle a worker fetches when the job's transport is `bundle`."""
        return f"{self.record}:bundle"

    @property
    def lease(self) -> str:
        """Held (SET NX PX, renewed by the heartbeat) by the worker running the job."""
        return f"{self.record}:lease"

    @property
    def events(self) -> str:
        """Pub/sub channel announcing status changes (waiters subscribe to it)."""
        return f"{self.record}:events"


def jobs_index(prefix: str) -> str:
    """Sorted set of job ids by creation time."""
    return f"{prefix}jobs"


def running_set(prefix: str) -> str:
    """Set of job ids currently running somewhere, for the reconciler."""
    return f"{prefix}running"


def dead_letter_list(prefix: str) -> str:
    """List of messages workers refused (newest first, capped); see tasks/dead_letter.py."""
    return f"{prefix}deadletter"
