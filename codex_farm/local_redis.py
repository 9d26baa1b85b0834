"""Which Redis a local farm uses: REDIS_URL, else a private redis-server child, else an embedded one.

`FARM_EMBEDDED_REDIS=1` skips redis-server and embeds Redis even when redis-server is installed
(REDIS_URL still wins when set).
"""

import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from codex_farm.children import Child, ChildFailed, spawn, wait_ready
from codex_farm.embedded_redis import EmbeddedRedis
from codex_farm.ports import LOOPBACK, free_port
from codex_farm.settings import LocalFarmSettings

EMBEDDED_WARNING = (
    "WARNING: Redis is embedded in this process (fakeredis): single-machine only. Workers on other\n"
    "machines cannot reach it, and queued jobs vanish when it stops. Install redis-server for a real farm."
)


@dataclass
class LocalRedis:
    """The Redis in use, what kind it is, and what (if anything) we must stop."""

    url: str
    mode: str
    child: Child | None = None
    embedded: EmbeddedRedis | None = None
    workdir: Path | None = field(default=None, repr=False)

    @property
    def is_embedded(self) -> bool:
        return self.embedded is not None

    def alive(self) -> bool:
        if self.child is not None:
            return self.child.alive()
        return self.embedded.alive() if self.embedded is not None else True

    def stop(self) -> None:
        """Stop the Redis we started (an external one is left alone) and remove its private dir."""
        if self.child is not None:
            self.child.stop()
        if self.embedded is not None:
            self.embedded.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(run_dir: Path) -> LocalRedis:
    """Pick and start the Redis of a local farm; the child's log goes to run_dir."""
    settings = LocalFarmSettings()
    if settings.redis_url:
        return LocalRedis(settings.redis_url, "external (REDIS_URL)")
    binary = shutil.which("redis-server")
    if binary and not settings.embedded_redis:
        return start_redis_server(run_dir, binary)
    return _embedded()


def start_redis_server(run_dir: Path, binary: str = "redis-server") -> LocalRedis:
    """redis-server on a free loopback port, a random password, nothing kept on disk; its log in run_dir."""
    port, password = free_port(), secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="redis-", dir=run_dir))
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--requirepass",
        password,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    child = spawn("redis-server", argv, os.environ, run_dir / "redis.log")
    url = f"redis://:{password}@{LOOPBACK}:{port}/0"
    local = LocalRedis(
        url, f"local redis-server on {LOOPBACK}:{port} (pid {child.pid})", child=child, workdir=workdir
    )
    try:
        wait_ready(child, lambda: _pings(url), 15, "answering PING")
    except ChildFailed:
        local.stop()
        raise
    return local


def _embedded() -> LocalRedis:
    server = EmbeddedRedis().start()
    deadline = time.monotonic() + 5
    while not _pings(server.url):
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("the embedded Redis did not answer PING")
        time.sleep(0.05)
    mode = f"embedded in this process on {LOOPBACK}:{server.port} (fakeredis, single-machine only)"
    return LocalRedis(server.url, mode, embedded=server)


def _pings(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False
