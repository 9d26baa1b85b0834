"""A bench farm with many workers: a private redis-server, the scripted gateway in this process, one adapter,
and any number of `codex-farm worker` processes per queue. Used by bench.load, bench.throughput,
bench.scaling."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.farm_latency import make_repo, stop_all
from bench.farm_processes import FarmAdapter, farm_env, start_farm_adapter, start_workers
from codex_farm.children import Child
from codex_farm.local_redis import LocalRedis, start_redis_server
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from scripted_gateway import GatewayHandle, run_in_thread

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
    redis: LocalRedis
    gateway: GatewayHandle
    adapter: FarmAdapter
    stoppers: list = field(default_factory=list)

    def new_queue(self, name: str) -> FarmQueue:
        """A fresh queue (and key prefix) on this farm."""
        queue = f"{name}{secrets.token_hex(3)}"
        cache = self.workdir / queue / "cache"
        return FarmQueue(farm_env(self.redis.url, self.adapter, self.sandbox, cache, queue=queue))

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url)

    def store(self, queue: FarmQueue) -> JobStore:
        """A JobStore reading that queue's jobs with the workers' default TTL and log cap."""
        settings = FarmSettings()
        return JobStore(self.redis_client(), queue.prefix, settings.job_ttl_s, settings.log_max_entries)

    def repo(self, name: str) -> Path:
        """A small committed repository inside the sandbox."""
        return make_repo(self, name)


@contextmanager
def running_pool(workdir: Path, scenarios: list[dict]) -> Iterator[Pool]:
    """Start Redis, the gateway (serving scenarios) and the adapter; stop them all on the way out."""
    sandbox, logs = workdir / "sandbox", workdir / "logs"
    for folder in (sandbox, logs):
        folder.mkdir(parents=True)
    stoppers: list = []
    try:
        local_redis = start_redis_server(logs)
        stoppers.append(local_redis.stop)
        gateway = run_in_thread(scenarios)
        stoppers.append(gateway.stop)
        adapter = start_farm_adapter(logs, gateway.url)
        stoppers.append(adapter.server.stop)
        yield Pool(workdir, sandbox, local_redis, gateway, adapter, stoppers)
    finally:
        stop_all(stoppers)


@contextmanager
def queue_workers(pool: Pool, queue: FarmQueue, count: int, concurrency: int = 1) -> Iterator[list[Child]]:
    """`count` workers consuming the queue for the duration of the block."""
    folder = pool.workdir / queue.name
    folder.mkdir(parents=True, exist_ok=True)
    workers = start_workers(queue.env, count, folder, concurrency)
    try:
        yield workers
    finally:
        for worker in workers:
            worker.stop()


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
