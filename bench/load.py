"""Load: many short jobs through several workers on a real redis-server; none lost, none run twice, Redis
bounded.

Run by hand (it is not a test):

    python -m bench.load [--jobs 500] [--workers 4] [--concurrency 1]

One farm on this machine (bench/farm_pool.py): a private redis-server, the scripted gateway in this
process, one adapter, and --workers `codex-farm worker` processes with --concurrency each on one queue.
Every job plays a 2-turn scenario (one Write, then the answer). All --jobs are queued at once through
the MCP frontend over stdio (fan-out `start`, 32 jobs per call), then waited for with multi-job `wait`.

It prints the invariants (farm_load/invariants.py, which tests/load checks too: every job `completed`
once, one attempt, one "running on" log line and exactly 2 gateway calls each; every job key with a TTL,
every log stream within its cap, nothing left queued, unacked or running; every worker used), the Redis
footprint (INFO used_memory before and after, MEMORY USAGE of the job keys), queue wait (created_at ->
started_at) p50/p99, jobs/s and the jobs per worker process (bench/load_numbers.py). Exits 1 when an
invariant fails.
"""

import argparse
import asyncio
import sys

from bench.farm_latency import header
from bench.farm_pool import FarmQueue, Pool, queue_workers, running_pool
from bench.farm_processes import connect_mcp
from bench.load_numbers import load_numbers, report_lines, used_memory
from bench.workdir import bench_workdir
from farm_core.settings import FarmSettings
from farm_load.driver import FANOUT_BATCH, Submitted, burst, tool_caller
from farm_load.invariants import (
    Expectations,
    all_acknowledged,
    collect_facts,
    gateway_calls_per_job,
    invariant_failures,
    load_prompts,
    redis_footprint,
    write_scenario,
)

SCENARIO = "load_write"
ACK_GRACE_S = 60  # a job's Celery message is acknowledged just after its record turns terminal


async def drive(pool: Pool, queue: FarmQueue, jobs: int, timeout_s: float) -> tuple[Submitted, list[dict]]:
    """Queue every job at once through the MCP frontend, then wait for all of them."""
    async with connect_mcp(queue.env) as client:
        call, prompts = tool_caller(client), load_prompts(SCENARIO, jobs)
        return await burst(call, pool.repo("repo"), prompts, timeout_s, progress=print_progress)


def print_progress(ended: int) -> None:
    if ended % (4 * FANOUT_BATCH) == 0:
        print(f"  ... {ended} jobs ended", flush=True)


def run(pool: Pool, args: argparse.Namespace) -> list[str]:
    """One load run; prints its numbers and returns the broken invariants."""
    queue = pool.new_queue("load")
    settings = FarmSettings()
    client = pool.redis_client()
    with queue_workers(pool, queue, args.workers, args.concurrency):
        memory_before = used_memory(client)
        submitted, results = asyncio.run(drive(pool, queue, args.jobs, args.timeout))
        acked = all_acknowledged(client, queue.name, ACK_GRACE_S)
        memory_after = used_memory(client)  # with the same worker connections open as before
    facts = collect_facts(pool.store(queue), submitted.job_ids)
    footprint = redis_footprint(
        client, queue.prefix, queue.name, settings.job_ttl_s, settings.log_max_entries
    )
    calls = gateway_calls_per_job(pool.gateway.requests(), SCENARIO)
    expect = Expectations(
        turns=len(write_scenario(SCENARIO)["turns"]), workers=args.workers * args.concurrency
    )
    failures = invariant_failures(facts, results, calls, footprint, expect)
    if not acked:
        failures.append(f"REDIS: messages unacknowledged {ACK_GRACE_S} s after their jobs ended")
    records = [f.record for f in facts.values() if f and f.record.finished_at and f.record.started_at]
    sent = submitted.sent_at.values()
    print(
        f"\n[load] {args.jobs} jobs (Write + answer), {args.workers} workers x concurrency "
        f"{args.concurrency}, all queued at once"
    )
    print(
        f"  last fan-out start ({FANOUT_BATCH} jobs per call) sent "
        f"{max(sent) - min(sent):.1f} s after the first"
    )
    if records:
        for line in report_lines(
            load_numbers(records, min(submitted.sent_at.values())), footprint, memory_before, memory_after
        ):
            print(f"  {line}")
    print(f"  gateway calls: {sum(calls.values())} for {len(calls)} jobs (expected {expect.turns} per job)")
    print(f"  invariants: {'all hold' if not failures else f'{len(failures)} FAILED'}")
    for failure in failures:
        print(f"  !! {failure}")
    return failures


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs queued at once")
    parser.add_argument("--workers", type=int, default=4, help="`codex-farm worker` processes")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for every job to end")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) after the run")
    args = parser.parse_args(argv)
    header(argv, prog="bench.load")
    with (
        bench_workdir("farm-load-", args.keep) as workdir,
        running_pool(workdir, [write_scenario(SCENARIO)]) as pool,
    ):
        failures = run(pool, args)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
