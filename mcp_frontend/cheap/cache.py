"""A small on-disk answer cache keyed by content hash, with a TTL; best effort (a broken cache is a miss)."""

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path


def content_key(*parts: str) -> str:
    """sha256 over the parts, each length-prefixed so no two part lists collide."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


class AnswerCache:
    """JSON entries under `<dir>/<key[:2]>/<key>.json`; entries older than ttl_s are misses (and removed)."""

    def __init__(self, directory: Path, ttl_s: int):
        self.directory = Path(directory)
        self.ttl_s = ttl_s

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.ttl_s <= 0:
            return None
        path = self._path(key)
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or time.time() - float(entry.get("created", 0)) > self.ttl_s:
            path.unlink(missing_ok=True)
            return None
        value = entry.get("value")
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict) -> None:
        if self.ttl_s <= 0:
            return
        path, tmp = self._path(key), None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as handle:
                json.dump({"created": time.time(), "value": value}, handle)
            os.replace(tmp, path)
        except OSError:  # a read-only or full disk only costs a future call
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
