"""What every job the frontend queues must satisfy, whichever tool asks for it (start, shell): its queue and
its timeout. Each rule is one function, so both tools refuse alike, with the same message."""

from farm_core.job_models import QUEUE_NAME
from farm_core.settings import FarmSettings
from mcp_frontend.errors import InvalidArgument


def job_queue(asked: str | None, farm: FarmSettings) -> str:
    """The queue a job runs on: the one asked for, if it is a queue name; else the first of FARM_QUEUE."""
    if asked is None:
        return farm.default_queue.split(",")[0]
    if not QUEUE_NAME.fullmatch(asked):  # else it would be enqueued on a queue no worker can have
        raise InvalidArgument(
            f"queue {asked[:80]!r} is not a queue name",
            hint="letters, digits and . _ : - (at most 128), as in FARM_QUEUE",
        )
    return asked


def job_timeout(timeout_ms: int, farm: FarmSettings) -> int:
    """timeout_ms, once it is checked to be between 1000 and FARM_MAX_TIMEOUT_MS."""
    if not 1000 <= timeout_ms <= farm.max_timeout_ms:
        raise InvalidArgument(
            f"timeout_ms must be between 1000 and FARM_MAX_TIMEOUT_MS ({farm.max_timeout_ms})"
        )
    return timeout_ms
