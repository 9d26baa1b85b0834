"""A bench farm with many workers: a private redis-server, the scripted gateway in this process, one adapter,
and any number of `codex-farm worker` processes per queue. Used by bench.load, bench.throughput, bench.scaling."""

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.farm_latency import make_repo, stop_all
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from scripted_gateway import GatewayHandle, run_in_thread
from tests.fixtures.adapter import RunningAdapter, launch_adapter
from tests.fixtures.farm import farm_env, start_workers, stop_worker
from tests.fixtures.processes import free_port
from tests.fixtures.redis_server import RedisServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class FarmQueue:
    """One queue of a bench farm: the settings its workers and its frontend share (`connect_mcp` takes it)."""

    env: dict[str, str]

    @property
    def name(self) -> str:
        return self.env["FARM_QUEUE"]

    @property
    def prefix(self) -> str:
        return self.env["FARM_KEY_PREFIX"]


@dataclass
class Pool:
    """The shared parts of a bench farm; queues with their workers come and go on it."""

    workdir: Path
    sandbox: Path
    redis: RedisServer
    gateway: GatewayHandle
    adapter: RunningAdapter
    stoppers: list = field(default_factory=list)

    def new_queue(self, name: str) -> FarmQueue:
        """A fresh queue (and key prefix) on this farm."""
        queue = f"{name}{secrets.token_hex(3)}"
        return FarmQueue(farm_env(self.redis, self.adapter, self.sandbox, self.workdir / queue / "cache", queue=queue))

    def store(self, queue: FarmQueue) -> JobStore:
        """A JobStore reading that queue's jobs with the workers' default TTL and log cap."""
        settings = FarmSettings()
        return JobStore(self.redis.client(), queue.prefix, settings.job_ttl_s, settings.log_max_entries)

    def repo(self, name: str) -> Path:
        """A small committed repository inside the sandbox."""
        return make_repo(self, name)


@contextmanager
def running_pool(workdir: Path, scenarios: list[dict]) -> Iterator[Pool]:
    """Start Redis, the gateway (serving scenarios) and the adapter; stop them all on the way out."""
    sandbox, logs, redis_dir = workdir / "sandbox", workdir / "logs", workdir / "redis"
    for folder in (sandbox, logs, redis_dir):
        folder.mkdir(parents=True)
    stoppers: list = []
    try:
        redis = RedisServer(free_port(), redis_dir)
        stoppers.append(redis.stop)
        redis.start()
        gateway = run_in_thread(scenarios)
        stoppers.append(gateway.stop)
        adapter = launch_adapter(gateway.url, logs)
        stoppers.append(adapter.server.stop)
        yield Pool(workdir, sandbox, redis, gateway, adapter, stoppers)
    finally:
        stop_all(stoppers)


@contextmanager
def queue_workers(pool: Pool, queue: FarmQueue, count: int, concurrency: int = 1) -> Iterator[list[subprocess.Popen]]:
    """`count` workers consuming the queue for the duration of the block."""
    folder = pool.workdir / queue.name
    folder.mkdir(parents=True, exist_ok=True)
    workers = start_workers(queue.env, count, folder, concurrency)
    try:
        yield workers
    finally:
        for worker in workers:
            stop_worker(worker)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process, its live descendants and every descendant already reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    own = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime
    return own + sum(tree_cpu_s(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(value) for value in (task / "children").read_text().split()]
        except OSError:
            pass
    return children
