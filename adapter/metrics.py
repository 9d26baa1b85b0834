"""One JSONL row per upstream call, for cost accounting."""

import json
import os
import threading
import time
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
    error: str = ""


class MetricsFile:
    """Appends rows to `WORKER_METRICS_FILE`; a no-op when unset."""

    def __init__(self, path: Path | None):
        self._path = path
        self._lock = threading.Lock()

    def write(self, row: UpstreamCallRow) -> None:
        """Append one row with a timestamp; one write() call so concurrent writers never interleave."""
        if self._path is None:
            return
        line = json.dumps({"ts": round(time.time(), 3), **asdict(row)}, separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
