"""Scaling: jobs/s and job latency with 1, 2, 4 and 8 worker processes, on jobs that wait on a slow model.

Run by hand (it is not a test):

    python -m bench.scaling [--workers 1,2,4,8] [--jobs 32] [--turn-s 1.0]

One farm on this machine (bench/farm_pool.py): a private redis-server, the scripted gateway in this
process, one adapter. For each worker count a fresh queue gets that many `codex-farm worker`
processes (concurrency 1 each), and --jobs jobs are queued at once through the MCP frontend. Each job
plays 3 scripted turns (Write, Write, answer), every turn streamed slowly enough to take about --turn-s
seconds, so the agent mostly waits on the model, as in production (I/O-bound).

Per worker count it prints jobs/s (first `start` sent -> last `finished_at`), the speed-up over the first
count and its efficiency (speed-up / workers), job run time p50/p99 (`started_at` -> `finished_at`), the
model time per job (adapter metrics rows), and the CPU seconds per job of the whole bench farm (this
process with the gateway and the MCP client, Redis, the adapter, the frontend, the workers with their
pool processes, Claude Code and git) and of the worker trees alone, from /proc while the measured jobs
ran (warm-up excluded). It never fails the run.
"""

import argparse
import asyncio
import os
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.farm_latency import header, pct
from bench.farm_pool import FarmQueue, Pool, queue_workers, running_pool, tree_cpu_s
from bench.farm_processes import connect_mcp
from bench.machine import load_average
from bench.workdir import bench_workdir
from farm_core.job_models import JobStatus
from farm_load.driver import burst, tool_caller

SCENARIO = "scale_slow_model"
# Lines of one streamed turn of one chunk: role, [tool call header], the piece, finish, usage, [DONE];
# the gateway sleeps delay_ms between consecutive lines.
GAPS_TOOL_TURN, GAPS_TEXT_TURN = 5, 4
TIMEOUT_S = 3600


def slow_scenario(turn_s: float) -> dict:
    """Write, Write, answer; each turn streamed over about turn_s seconds."""

    def write(name: str) -> dict:
        call = {"name": "Write", "arguments": {"file_path": "{cwd}/" + name, "content": f"{name}\n"}}
        return {"tool_calls": [call], "chunks": 1, "delay_ms": round(turn_s * 1000 / GAPS_TOOL_TURN)}

    answer = {
        "text": "Wrote a.txt and b.txt.",
        "chunks": 1,
        "delay_ms": round(turn_s * 1000 / GAPS_TEXT_TURN),
    }
    return {"name": SCENARIO, "turns": [write("a.txt"), write("b.txt"), answer]}


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far: every process of the bench farm (this one and all it started), and the workers
    alone."""

    farm: float
    workers: float

    @classmethod
    def now(cls, workers: list) -> "Cpu":
        return cls(tree_cpu_s(os.getpid()), sum(tree_cpu_s(p.pid) for p in workers))


@dataclass(frozen=True)
class Step:
    """The numbers of one worker count."""

    workers: int
    jobs: int
    completed: int
    wall_s: float
    run_times: list[float]
    model_s: list[float]
    cpu: Cpu

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.wall_s


async def drive(queue: FarmQueue, repo: Path, jobs: int, workers: list) -> tuple[list[str], float, Cpu]:
    """A warm-up round (one job per worker, not counted), then every job at once: (job ids, first start
    sent, CPU used)."""
    async with connect_mcp(queue.env) as client:
        call = tool_caller(client)
        warm_ups = [f"Warm-up {n}. [[scenario:{SCENARIO}]]" for n in range(len(workers))]
        await burst(call, repo, warm_ups, TIMEOUT_S)
        before = Cpu.now(workers)
        prompts = [f"Job {n}. [[scenario:{SCENARIO}]]" for n in range(jobs)]
        submitted, _ = await burst(call, repo, prompts, TIMEOUT_S)
        after = Cpu.now(workers)
    return (
        submitted.job_ids,
        min(submitted.sent_at.values()),
        Cpu(after.farm - before.farm, after.workers - before.workers),
    )


def model_seconds(pool: Pool, job_ids: list[str]) -> list[float]:
    """Per job, the seconds its gateway calls took (adapter metrics rows)."""
    per_job: dict[str, float] = defaultdict(float)
    wanted = set(job_ids)
    for row in pool.adapter.metrics_rows():
        if row.get("job") in wanted:
            per_job[row["job"]] += row["latency_ms"] / 1000
    return list(per_job.values())


def step(pool: Pool, workers: int, jobs: int) -> Step:
    """Run the jobs on `workers` fresh worker processes."""
    queue = pool.new_queue(f"sc{workers}w")
    repo = pool.repo(queue.name)
    with queue_workers(pool, queue, workers) as processes:
        job_ids, first_sent, cpu = asyncio.run(drive(queue, repo, jobs, processes))
    store = pool.store(queue)
    records = [store.get(job_id) for job_id in job_ids]
    done = [r for r in records if r and r.status == JobStatus.completed]
    return Step(
        workers=workers,
        jobs=jobs,
        completed=len(done),
        wall_s=max(r.finished_at for r in records if r and r.finished_at) - first_sent,
        run_times=[r.finished_at - r.started_at for r in done],
        model_s=model_seconds(pool, job_ids),
        cpu=cpu,
    )


def print_table(steps: list[Step], cores: int) -> None:
    base = steps[0]
    print(
        f"\n[scaling] {base.jobs} jobs per worker count, all queued at once; 3 turns of "
        f"~{statistics.median(base.model_s) / 3:.2f} s model time each"
    )
    print(
        f"  {'workers':>7} {'jobs/s':>7} {'speed-up':>8} {'efficiency':>10} {'run p50 s':>9} "
        f"{'run p99 s':>9} {'model s/job':>11}"
        f" {'farm CPU s/job':>14} {'of it workers':>13} {'farm CPU busy':>13}"
    )
    for s in steps:
        speed_up = s.jobs_per_s / base.jobs_per_s
        efficiency = speed_up / (s.workers / base.workers)
        busy = s.cpu.farm / s.wall_s / cores  # the farm's share of the machine's CPU while the jobs ran
        failed = f"   !! {s.jobs - s.completed} not completed" if s.completed != s.jobs else ""
        print(
            f"  {s.workers:>7} {s.jobs_per_s:7.3f} {speed_up:8.2f} {efficiency * 100:9.0f} % "
            f"{pct(s.run_times, 50):9.2f} {pct(s.run_times, 99):9.2f} {statistics.median(s.model_s):11.2f} "
            f"{s.cpu.farm / s.jobs:14.2f} {s.cpu.workers / s.jobs:13.2f} {busy * 100:12.0f} %{failed}"
        )
    cpu = statistics.median(s.cpu.farm / s.jobs for s in steps)
    print(f"  CPU-bound ceiling on {cores} cores at {cpu:.2f} farm CPU s per job: {cores / cpu:.2f} jobs/s")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", default="1,2,4,8", help="comma-separated worker process counts (the first is the base)"
    )
    parser.add_argument("--jobs", type=int, default=32, help="jobs queued at once per worker count")
    parser.add_argument("--turn-s", type=float, default=1.0, help="model time of each of the 3 turns")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) after the run")
    args = parser.parse_args(argv)
    header(argv, prog="bench.scaling")
    steps = []
    with bench_workdir("farm-scaling-", args.keep) as workdir:
        with running_pool(workdir, [slow_scenario(args.turn_s)]) as pool:
            for workers in [int(n) for n in args.workers.split(",")]:
                steps.append(step(pool, workers, args.jobs))
                print(
                    f"  {workers} workers: {steps[-1].jobs_per_s:.3f} jobs/s (load average {load_average()})",
                    flush=True,
                )
        if steps:
            print_table(steps, os.cpu_count() or 1)


if __name__ == "__main__":
    main()
