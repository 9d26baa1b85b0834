"""What a load run measured: throughput, queue wait, run time and turnaround from the job records, and the
Redis footprint, as the lines `python -m bench.load` prints."""

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import pairwise

import redis

from bench.farm_latency import pct
from farm_core.job_models import JobRecord
from farm_load.invariants import RedisFootprint


@dataclass(frozen=True)
class LoadNumbers:
    """Throughput and latencies of a run, from the job records (seconds, time.time() on this machine)."""

    jobs: int
    wall_s: float
    jobs_per_s: float
    queue_wait: tuple[float, float, float]  # p50, p99, max of created_at -> started_at
    run_time: tuple[float, float]  # p50, p99 of started_at -> finished_at
    worker_gap: tuple[float, float]  # p50, p99 of a worker's previous finished_at -> its next started_at
    per_worker: dict[str, int]


def load_numbers(records: list[JobRecord], first_sent: float) -> LoadNumbers:
    """Numbers over finished records: wall time from the first `start` sent to the last job finished."""
    wall = max(r.finished_at for r in records) - first_sent
    waits = [r.started_at - r.created_at for r in records]
    runs = [r.finished_at - r.started_at for r in records]
    by_worker: dict[str, list[JobRecord]] = defaultdict(list)
    for record in records:
        by_worker[record.worker].append(record)
    gaps = []
    for runs_of_worker in by_worker.values():
        ordered = sorted(runs_of_worker, key=lambda r: r.started_at)
        gaps += [later.started_at - earlier.finished_at for earlier, later in pairwise(ordered)]
    return LoadNumbers(
        jobs=len(records),
        wall_s=wall,
        jobs_per_s=len(records) / wall,
        queue_wait=(pct(waits, 50), pct(waits, 99), max(waits)),
        run_time=(pct(runs, 50), pct(runs, 99)),
        worker_gap=(pct(gaps, 50), pct(gaps, 99)) if gaps else (0.0, 0.0),
        per_worker=dict(sorted(Counter(r.worker for r in records).items())),
    )


def report_lines(
    numbers: LoadNumbers, footprint: RedisFootprint, memory_before: int, memory_after: int
) -> list[str]:
    """The human-readable summary of a load run."""
    counts = list(numbers.per_worker.values())
    spread = f"min {min(counts)}, max {max(counts)}, stdev {statistics.pstdev(counts):.1f}" if counts else "-"
    jobs, grown = max(1, numbers.jobs), memory_after - memory_before
    wait, run, gap = numbers.queue_wait, numbers.run_time, numbers.worker_gap
    return [
        f"jobs {numbers.jobs} in {numbers.wall_s:.1f} s (first start sent -> last finished):"
        f" {numbers.jobs_per_s:.2f} jobs/s",
        f"queue wait (created_at -> started_at): p50 {wait[0] * 1000:.0f} ms, p99 {wait[1] * 1000:.0f} ms,"
        f" max {wait[2] * 1000:.0f} ms",
        f"run time (started_at -> finished_at): p50 {run[0] * 1000:.0f} ms, p99 {run[1] * 1000:.0f} ms",
        f"worker turnaround (its previous finished_at -> next started_at): p50 {gap[0] * 1000:.1f} ms,"
        f" p99 {gap[1] * 1000:.1f} ms",
        f"per worker process: {numbers.per_worker} ({spread})",
        f"Redis used_memory: before {memory_before:,} B, after {memory_after:,} B, grown {grown:,} B"
        f" = {grown / jobs:,.0f} B per job",
        f"job keys: {footprint.job_keys} ({footprint.job_keys / jobs:.1f} per job),"
        f" MEMORY USAGE {footprint.job_key_bytes:,} B = {footprint.job_key_bytes / jobs:,.0f} B per job;"
        f" all with a TTL: {not footprint.keys_without_ttl}",
        f"longest log stream {footprint.longest_log} entries"
        f" (cap {footprint.log_cap_allowed} incl. one stream node of slack)",
        f"job index (sorted set, entries past FARM_JOB_TTL_S trimmed at each start):"
        f" {footprint.index_entries} entries, {footprint.index_bytes:,} B",
    ]


def used_memory(client: redis.Redis) -> int:
    """Redis INFO used_memory, in bytes."""
    return int(client.info("memory")["used_memory"])
