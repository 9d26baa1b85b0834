"""Throughput: jobs per second through the farm's queue versus the raw Celery round trip on the same Redis.

Run by hand (it is not a test):

    python -m bench.throughput [--workers 4] [--jobs 100] [--celery-jobs 2000] [--serial 10]

One farm on this machine (bench/farm_pool.py): a private redis-server, the scripted gateway in this
process, one adapter. Both sides get --workers worker processes with concurrency 1 on that Redis:

- farm: `codex-farm worker`s; --jobs of the lightest real job (a 1-turn scripted scenario: the agent
  answers, changes nothing) queued at once through the MCP frontend (fan-out `start`), timed from
  the first `start` sent to the last `wait` answer; then --serial jobs one at a time (`start` -> `wait`).
- shell (when the frontend has the `shell` tool): --jobs `shell` calls running `true`, all at once,
  then --serial one at a time; no agent, no model call.
- raw Celery: bare workers of bench/celery_echo.py (a task returning its argument, Redis result
  backend); --celery-jobs `apply_async` sent at once then every `.get()`, and --serial x 10 one at a time.

Each side warms up first (a few jobs per worker, not counted). Burst times are client-side, from the
first call sent to the last answer received.

It prints jobs/s for each and the ratio raw Celery / farm; it never fails the run.
"""

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import celery_echo
from bench.farm_latency import header, pct
from bench.farm_pool import FarmQueue, Pool, queue_workers, running_pool
from bench.farm_processes import connect_mcp, start_worker
from bench.workdir import bench_workdir
from farm_load.driver import ToolCall, burst, tool_caller

ANSWER_SCENARIO = {"name": "tp_answer", "turns": [{"text": "Nothing to change."}]}
PROMPT = "Answer only. [[scenario:tp_answer]]"
TIMEOUT_S = 3600


@dataclass(frozen=True)
class Rate:
    """One side's numbers: burst throughput and the one-at-a-time round trip."""

    name: str
    jobs: int
    burst_s: float
    serial: list[float]
    failed: int = 0

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.burst_s

    def line(self) -> str:
        trip = (
            f"p50 {statistics.median(self.serial) * 1000:8.1f} ms, p99 {pct(self.serial, 99) * 1000:8.1f} ms"
            if self.serial
            else "-"
        )
        bad = f"   !! {self.failed} did not complete" if self.failed else ""
        return (
            f"  {self.name:<34} {self.jobs:>6} in {self.burst_s:7.2f} s = {self.jobs_per_s:8.2f} jobs/s   "
            f"one at a time: {trip}{bad}"
        )


# ----------------------------------------------------------------------------- the farm's queue


async def farm_rates(pool: Pool, queue: FarmQueue, workers: int, jobs: int, serial: int) -> list[Rate]:
    """The agent job (and the shell job when the frontend offers it), in a burst and one at a time."""
    repo = pool.repo("repo")
    async with connect_mcp(queue.env) as client:
        call = tool_caller(client)
        # Warm-up: a worker's first job builds its context.
        await burst(call, repo, [PROMPT] * workers, TIMEOUT_S)
        began = time.monotonic()
        _, results = await burst(call, repo, [PROMPT] * jobs, TIMEOUT_S)
        burst_s = time.monotonic() - began
        failed = sum(r["job_status"] != "completed" for r in results)
        rates = [Rate("farm: 1-turn agent job", jobs, burst_s, await agent_trips(call, repo, serial), failed)]
        tools = {tool.name for tool in (await client.list_tools()).tools}
        if "shell" in tools:
            rates.append(await shell_rate(call, repo, jobs, serial))
        else:
            print("  (no `shell` tool in this frontend: shell jobs not measured)")
    return rates


async def agent_trips(call: ToolCall, repo: Path, count: int) -> list[float]:
    """Seconds from `start` sent to `wait` answered, one job at a time."""
    trips = []
    for _ in range(count):
        began = time.monotonic()
        await burst(call, repo, [PROMPT], TIMEOUT_S)
        trips.append(time.monotonic() - began)
    return trips


async def shell_rate(call: ToolCall, repo: Path, jobs: int, serial: int) -> Rate:
    """`shell` running `true`: all calls at once (each call waits for its job), then one at a time."""
    arguments = {"command": "true", "repo": str(repo), "timeout_ms": 600_000}
    began = time.monotonic()
    answers = await asyncio.gather(*(call("shell", arguments) for _ in range(jobs)))
    burst_s = time.monotonic() - began
    trips = []
    for _ in range(serial):
        began = time.monotonic()
        await call("shell", arguments)
        trips.append(time.monotonic() - began)
    return Rate(
        "farm: shell job (`true`)",
        jobs,
        burst_s,
        trips,
        sum(a.get("job_status") != "completed" for a in answers),
    )


# ----------------------------------------------------------------------------- raw Celery


def celery_rate(pool: Pool, workers: int, jobs: int, serial: int) -> Rate:
    """Bare Celery workers on the same Redis: a burst of `echo` tasks, then `apply_async().get()` one at a
    time."""
    queue = "echo" + str(time.time_ns())[-6:]
    folder = pool.workdir / queue
    folder.mkdir()
    env = {"BENCH_REDIS_URL": pool.redis.url}
    started = []
    try:
        for n in range(workers):
            command = celery_echo.worker_command(queue, f"echo{n}", concurrency=1)
            started.append(start_worker(env, folder / f"worker-{n}.log", command=command))
        celery_echo.use_broker(pool.redis.url)
        task = celery_echo.echo
        [task.apply_async((n,), queue=queue).get(timeout=60) for n in range(workers * 5)]  # warm-up
        began = time.monotonic()
        pending = [task.apply_async((n,), queue=queue) for n in range(jobs)]
        wrong = sum(result.get(timeout=TIMEOUT_S) != n for n, result in enumerate(pending))
        burst_s = time.monotonic() - began
        trips = []
        for n in range(serial):
            began = time.monotonic()
            task.apply_async((n,), queue=queue).get(timeout=60)
            trips.append(time.monotonic() - began)
        return Rate("raw Celery: echo task", jobs, burst_s, trips, wrong)
    finally:
        for worker in started:
            worker.stop()


# ----------------------------------------------------------------------------- main


def run(pool: Pool, args: argparse.Namespace) -> None:
    queue = pool.new_queue("tp")
    with queue_workers(pool, queue, args.workers, concurrency=1):
        ours = asyncio.run(farm_rates(pool, queue, args.workers, args.jobs, args.serial))
    raw = celery_rate(pool, args.workers, args.celery_jobs, args.serial * 10)
    print(f"\n[throughput] {args.workers} worker processes x concurrency 1 on each side, one redis-server")
    print(f"  {'path':<34} {'jobs':>6}    burst (all queued at once)          round trip")
    for rate in [*ours, raw]:
        print(rate.line())
    for rate in ours:
        trip = (
            statistics.median(rate.serial) / statistics.median(raw.serial)
            if rate.serial and raw.serial
            else float("nan")
        )
        print(
            f"  raw Celery / {rate.name}: {raw.jobs_per_s / rate.jobs_per_s:,.0f}x "
            f"the jobs/s; round trip p50 {trip:,.0f}x"
        )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", type=int, default=4, help="worker processes on each side (concurrency 1)"
    )
    parser.add_argument("--jobs", type=int, default=100, help="farm jobs (and shell jobs) queued at once")
    parser.add_argument("--celery-jobs", type=int, default=2000, help="raw Celery tasks sent at once")
    parser.add_argument(
        "--serial", type=int, default=10, help="farm jobs run one at a time (raw Celery: 10x as many)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) after the run")
    args = parser.parse_args(argv)
    header(argv, prog="bench.throughput")
    with (
        bench_workdir("farm-throughput-", args.keep) as workdir,
        running_pool(workdir, [ANSWER_SCENARIO]) as pool,
    ):
        run(pool, args)


if __name__ == "__main__":
    main()
