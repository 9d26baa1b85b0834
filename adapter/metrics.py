"""One JSONL row per upstream call, for cost accounting."""

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class UpstreamCallRow:
    """What one call to a gateway cost and how it went."""

    model: str
    route: str
    status: int
    latency_ms: float
    stream: bool
    client: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0  # part of output_tokens
    error: str = ""
    job: str = ""  # the job id when the client is a per-job token (`job:<id>`), else empty

    def __post_init__(self) -> None:
        if not self.job and self.client.startswith("job:"):
            self.job = self.client[len("job:") :]


class MetricsFile:
    """Appends rows to `WORKER_METRICS_FILE` (a no-op when unset) and hands each row to its observers."""

    def __init__(self, path: Path | None):
        self._path = path
        self._lock = threading.Lock()
        self._observers: list[Callable[[UpstreamCallRow], None]] = []

    def add_observer(self, observer: Callable[[UpstreamCallRow], None]) -> None:
        """Call `observer(row)` for every row written (e.g. the Prometheus counters), file or not."""
        self._observers.append(observer)

    def write(self, row: UpstreamCallRow) -> None:
        """Append one row with a timestamp; one write() call so concurrent writers never interleave."""
        for observer in self._observers:
            observer(row)
        if self._path is None:
            return
        line = json.dumps({"ts": round(time.time(), 3), **asdict(row)}, separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
