"""The processes of a bench farm besides Redis and the gateway: the adapter with its metrics file,
`codex-farm worker`s, and the MCP frontend over stdio. Started and stopped as the command does its own
(codex_farm/children.py): each in its own session, logging to a file, stopped by its PID."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from bench.servers import CLIENT_TOKEN, Server, start_adapter
from codex_farm.children import Child, ChildFailed, spawn, wait_ready
from codex_farm.stats import read_rows

WORKER_READY_S = 60
FARM_COMMAND = [sys.executable, "-m", "codex_farm"]


@dataclass(frozen=True)
class FarmAdapter:
    """The adapter the workers' Claude Code talks to: the token they present, its calls' file."""

    server: Server
    metrics_file: Path
    token: str = CLIENT_TOKEN

    @property
    def url(self) -> str:
        return self.server.url

    def metrics_rows(self) -> list[dict]:
        """One row per gateway call so far (read as `codex-farm stats` reads them)."""
        return read_rows(self.metrics_file, since=None)[0] if self.metrics_file.exists() else []


def start_farm_adapter(workdir: Path, upstream_url: str) -> FarmAdapter:
    """`codex-farm adapter` in front of an OpenAI base URL, logging at info, its calls in workdir."""
    metrics = workdir / "adapter-metrics.jsonl"
    return FarmAdapter(start_adapter(workdir, upstream_url, "info", metrics), metrics)


def farm_env(redis_url: str, adapter: FarmAdapter, sandbox: Path, cache: Path, queue: str) -> dict[str, str]:
    """Settings shared by the workers and the frontend of a bench farm on one queue."""
    return {
        "REDIS_URL": redis_url,
        "FARM_QUEUE": queue,
        "FARM_KEY_PREFIX": f"farm-bench-{queue}:",
        "SANDBOX_ROOT": str(sandbox),
        "WORKER_CACHE_DIR": str(cache),
        # The bench farm's own registry: its workers hide each other's caches, not the host's.
        "WORKER_CACHE_REGISTRY": str(sandbox.parent / "cache-registry"),
        "ADAPTER_URL": adapter.url,
        "ADAPTER_TOKEN": adapter.token,
        "FARM_HEARTBEAT_S": "0.5",
    }


def start_worker(
    env: dict[str, str], log_path: Path, concurrency: int = 1, command: list[str] | None = None
) -> Child:
    """`codex-farm worker` (or another Celery worker `command`), env added to ours; returns once ready."""
    argv = command or [*FARM_COMMAND, "worker", "--concurrency", str(concurrency), "--loglevel", "INFO"]
    worker = spawn(log_path.stem, argv, {**os.environ, **env}, log_path)
    try:
        # Celery logs "celery@host ready." once it consumes from its queues.
        wait_ready(worker, lambda: "ready." in worker.log(), WORKER_READY_S, "ready")
    except ChildFailed:
        worker.stop()
        raise
    return worker


def start_workers(env: dict[str, str], count: int, folder: Path, concurrency: int = 1) -> list[Child]:
    """`count` workers on env's queue, started in parallel, each with its own cache and log in folder.

    If any fails to start, the others are stopped and its error is raised."""

    def launch(n: int) -> Child:
        own_cache = {**env, "WORKER_CACHE_DIR": str(folder / f"cache-{n}")}
        return start_worker(own_cache, folder / f"worker-{n}.log", concurrency)

    with ThreadPoolExecutor(max(1, count)) as starting:
        futures = [starting.submit(launch, n) for n in range(count)]
    workers = [f.result() for f in futures if f.exception() is None]
    failure = next((f.exception() for f in futures if f.exception() is not None), None)
    if failure is not None:
        for worker in workers:
            worker.stop()
        raise failure
    return workers


def connect_mcp(env: dict[str, str]) -> Client:
    """The official MCP client for `codex-farm mcp` over stdio, with env added to ours; use as `async with`.

    (Entered and left in one task: the stdio client's cancel scope must be.)"""
    command, *args = FARM_COMMAND
    return Client(StdioServerParameters(command=command, args=[*args, "mcp"], env={**os.environ, **env}))
