"""Farm latency: dispatch, `wait` wake-up, farm-vs-direct overhead and the bytes Codex receives.

Run by hand (it is not a test):

    python -m bench.farm_latency [--jobs 200] [--runs 20] [--files 50]

One farm on this machine: a real redis-server on a free port, the scripted gateway and the
adapter each in their own process, one `codex-farm worker --concurrency 2`, and the MCP
frontend over stdio driven by the official MCP client (as Codex would drive it).

1. Dispatch: `start` sent -> the agent's init message (first `system` entry of the job log),
   over --jobs sequential no-op jobs (each waited for before the next, so no queueing),
   with queue-to-claim (`started_at - created_at`) and a per-stage breakdown from the log.
2. `wait` wake-up: the job's `finished_at` -> the `wait` response arriving at the client.
3. Overhead: a 3-turn job (Write, Edit, final answer) run directly with `claude -p` in a
   fresh `git worktree` (created and removed per run) vs through the farm (`start` -> `wait`),
   --runs each, interleaved.
4. Bytes: a job writing --files files (~1.5 KB each) with include_diff false; the JSON of the
   `start` and `wait` results vs the full patch plus the full job log.

All timestamps are `time.time()` on this one machine. It prints numbers and ratios; it never
fails the run.
"""

import argparse
import asyncio
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import redis
from mcp import Client

from bench.farm_processes import FarmAdapter, connect_mcp, farm_env, start_farm_adapter, start_worker
from bench.machine import cpu_model, load_average, tool_version
from bench.servers import Server, start_server
from bench.workdir import bench_workdir
from codex_farm.local_redis import LocalRedis, start_redis_server
from codex_farm.ports import free_port
from farm_core.job_models import JobRecord
from farm_core.store import JobStore, LogEntry
from tasks.agent_env import OFFLINE_CLI_ENV, bundled_cli
from tasks.settings import WorkerSettings

GOAL_OVERHEAD_RATIO = 1.15
GOAL_BYTES_REDUCTION_PCT = 95.0
WAIT_SLICE_MS = 100_000  # below the frontend's WAIT_MAX_MS default
EDIT_FILE = "bench_out.py"
# Inherited variables that would point the direct run's CLI somewhere else or carry a real credential.
SCRUBBED_ENV = (
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
)
GIT_IDENTITY = ["-c", "user.name=farm-bench", "-c", "user.email=farm-bench@example.invalid"]


# ----------------------------------------------------------------------------- scenarios


def scenarios(files: int) -> list[dict]:
    """The three scripted jobs: a no-op, write+edit+answer, and many parallel writes."""
    noop = {"name": "bench_noop", "turns": [{"text": "Nothing to do."}]}
    edit = {
        "name": "bench_edit",
        "turns": [
            {
                "tool_calls": [
                    {
                        "name": "Write",
                        "arguments": {
                            "file_path": "{cwd}/" + EDIT_FILE,
                            "content": "def answer():\n    return 41\n",
                        },
                    }
                ]
            },
            {
                "tool_calls": [
                    {
                        "name": "Edit",
                        "arguments": {
                            "file_path": "{cwd}/" + EDIT_FILE,
                            "old_string": "41",
                            "new_string": "42",
                        },
                    }
                ]
            },
            {"text": f"{EDIT_FILE} now returns 42."},
        ],
    }
    writes = [
        {
            "name": "Write",
            "arguments": {"file_path": "{cwd}/" + generated_path(i), "content": generated_module(i)},
        }
        for i in range(files)
    ]
    many = {
        "name": "bench_many",
        "turns": [{"tool_calls": writes}, {"text": f"Wrote {files} modules under gen/."}],
    }
    return [noop, edit, many]


def generated_path(i: int) -> str:
    return f"gen/module_{i:03d}.py"


def generated_module(i: int, size: int = 1500) -> str:
    """A deterministic Python module of about `size` bytes."""
    lines, n = [f'"""Generated module {i} for the farm benchmark."""\n\n'], 0
    while sum(map(len, lines)) < size:
        lines.append(f"def scale_{i}_{n}(value: int) -> int:\n    return value * {n + i} + {n}\n\n")
        n += 1
    return "".join(lines)


# ----------------------------------------------------------------------------- statistics


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


# ----------------------------------------------------------------------------- farm


@dataclass
class Bench:
    """A running farm plus what the benchmark needs to drive and inspect it."""

    workdir: Path
    sandbox: Path
    redis: LocalRedis
    gateway: Server
    adapter: FarmAdapter
    env: dict[str, str]
    store: JobStore
    claude_home: Path
    stoppers: list = field(default_factory=list)


def launch(workdir: Path, files: int) -> Bench:
    """Start Redis, the gateway, the adapter and a worker; every process is registered for stopping."""
    sandbox, cache, logs, home = (workdir / name for name in ("sandbox", "cache", "logs", "claude-home"))
    for folder in (sandbox, cache, logs, home):
        folder.mkdir()
    scenario_file = workdir / "scenarios.json"
    scenario_file.write_text(json.dumps(scenarios(files)))
    stoppers: list = []
    bench = None
    try:
        local_redis = start_redis_server(logs)
        stoppers.append(local_redis.stop)
        port = free_port()
        gateway_args = [
            sys.executable,
            "-m",
            "scripted_gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--scenarios",
            str(scenario_file),
        ]
        gateway = start_server("gateway", gateway_args, dict(os.environ), port, "/v1/models", logs)
        stoppers.append(gateway.stop)
        adapter = start_farm_adapter(logs, f"{gateway.url}/v1")
        stoppers.append(adapter.server.stop)
        env = farm_env(local_redis.url, adapter, sandbox, cache, queue="bench" + uuid.uuid4().hex[:6])
        worker = start_worker(env, logs / "worker.log", concurrency=2)
        stoppers.append(worker.stop)
        client = redis.Redis.from_url(local_redis.url)
        store = JobStore(client, env["FARM_KEY_PREFIX"], ttl_s=86400, log_max_entries=5000)
        bench = Bench(workdir, sandbox, local_redis, gateway, adapter, env, store, home, stoppers)
        return bench
    finally:
        if bench is None:
            stop_all(stoppers)


def stop_all(stoppers: list) -> None:
    """Stop processes in reverse start order; one failing stop does not skip the others."""
    for stop in reversed(stoppers):
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - keep stopping the rest
            print(f"warning: stopping a process failed: {exc!r}", file=sys.stderr)
    stoppers.clear()


def git(repo: Path, *args: str) -> str:
    """Run git in repo (as the bench's own committer) and return its stdout."""
    done = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout


def claude_cli() -> Path:
    """The CLI the farm's workers run: CLAUDE_CLI_PATH, else the one bundled with claude-agent-sdk."""
    return WorkerSettings().claude_cli_path or bundled_cli()


def make_repo(bench: Bench, name: str) -> Path:
    repo = bench.sandbox / name
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# bench\n")
    (repo / "src").mkdir()
    (repo / "src" / "__init__.py").write_text("")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


# ----------------------------------------------------------------------------- one farm job


@dataclass
class FarmJob:
    """Client-side timestamps of one job plus its record and log from Redis."""

    job_id: str
    sent: float
    start_returned: float
    wait_sent: float
    wait_returned: float
    status: str
    start_result: dict
    wait_result: dict
    wire_bytes: int
    record: JobRecord | None = None
    log: list[LogEntry] = field(default_factory=list)

    def log_ts(self, kind: str, prefix: str = "") -> float | None:
        for entry in self.log:
            if entry.kind == kind and entry.text.startswith(prefix):
                return entry.ts
        return None


async def farm_job(client: Client, bench: Bench, repo: Path, prompt: str) -> FarmJob:
    """`start`, then `wait` until the job ends; timestamps taken right around each call."""
    sent = time.time()
    started = await client.call_tool("start", {"prompt": prompt, "repo": str(repo), "include_diff": False})
    start_returned = time.time()
    if started.is_error:
        raise RuntimeError(f"start failed: {started.content}")
    job_id = started.structured_content["job_id"]
    wire = len(started.model_dump_json(by_alias=True, exclude_none=True))
    while True:
        wait_sent = time.time()
        waited = await client.call_tool("wait", {"job_id": job_id, "timeout_ms": WAIT_SLICE_MS})
        wait_returned = time.time()
        if waited.is_error:
            raise RuntimeError(f"wait failed: {waited.content}")
        wire += len(waited.model_dump_json(by_alias=True, exclude_none=True))
        if waited.structured_content["job_status"] not in ("queued", "running"):
            break
    job = FarmJob(
        job_id,
        sent,
        start_returned,
        wait_sent,
        wait_returned,
        waited.structured_content["job_status"],
        started.structured_content,
        waited.structured_content,
        wire,
    )
    job.record = bench.store.get(job_id)
    job.log = bench.store.read_log(job_id, None, 100_000)
    return job


# ----------------------------------------------------------------------------- 1+2: dispatch and wait


def first_model_calls(adapter: FarmAdapter) -> dict[str, float]:
    """Per job id, when its first upstream call started (metrics row time minus its latency)."""
    first: dict[str, float] = {}
    for row in adapter.metrics_rows():
        client = row.get("client", "")
        if client.startswith("job:"):
            began = row["ts"] - row["latency_ms"] / 1000
            first[client[4:]] = min(first.get(client[4:], began), began)
    return first


WORKER_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): \w+/[\w-]+\] Task [\w.]+\[(\w+)\] (received|succeeded)"
)


def worker_events(log_path: Path) -> dict[tuple[str, str], float]:
    """(job id, "received"|"succeeded") -> epoch time, from the Celery worker's log (local time, ms)."""
    events: dict[tuple[str, str], float] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        match = WORKER_LINE.match(line)
        if match:
            stamp, millis, job_id, what = match.groups()
            events[(job_id, what)] = (
                time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
            )
    return events


def stage_row(name: str, values: list[float], total_p50: float | None = None) -> str:
    share = f"{statistics.median(values) / total_p50 * 100:5.1f} %" if total_p50 else "       "
    return f"  {name:<62} {ms(pct(values, 50))} {ms(pct(values, 99))} {ms(statistics.fmean(values))}  {share}"


async def dispatch(client: Client, bench: Bench, repo: Path, jobs: int, warmup: int) -> dict:
    prompt = "Nothing to change; just answer. [[scenario:bench_noop]]"
    cold: list[FarmJob] = [await farm_job(client, bench, repo, prompt) for _ in range(warmup)]
    done: list[FarmJob] = []
    for i in range(jobs):
        done.append(await farm_job(client, bench, repo, prompt))
        if (i + 1) % 25 == 0:
            print(f"  ... {i + 1}/{jobs} jobs", flush=True)
    await asyncio.sleep(1.0)  # the last job's clean-up and the worker's log line come after its wait returns
    model_calls = first_model_calls(bench.adapter)
    events = worker_events(bench.workdir / "logs" / "worker.log")
    failed = [j for j in done if j.status != "completed" or j.log_ts("system") is None]
    good = [j for j in done if j not in failed]
    late_waits = sum(1 for j in good if j.wait_sent > j.record.finished_at)

    def series(fn) -> list[float]:
        """fn over the good jobs; a job missing a timestamp (e.g. an unparsed worker log line) is skipped."""
        values = []
        for job in good:
            try:
                values.append(fn(job))
            except (KeyError, TypeError):
                pass
        return values

    rows = {
        "start call round trip (client)": series(lambda j: j.start_returned - j.sent),
        "start sent -> created_at (MCP, validate, snapshot)": series(lambda j: j.record.created_at - j.sent),
        "QUEUE-TO-CLAIM: created_at -> started_at (Celery)": series(
            lambda j: j.record.started_at - j.record.created_at
        ),
        "  of which created_at -> worker received (broker)": series(
            lambda j: events[(j.job_id, "received")] - j.record.created_at
        ),
        "  of which received -> started_at (pool, claim)": series(
            lambda j: j.record.started_at - events[(j.job_id, "received")]
        ),
        "started_at -> worktree ready (fetch, worktree add)": series(
            lambda j: j.log_ts("status", "worktree ready") - j.record.started_at
        ),
        "worktree ready -> agent init (SDK + CLI start)": series(
            lambda j: j.log_ts("system") - j.log_ts("status", "worktree ready")
        ),
        "DISPATCH: start sent -> agent init": series(lambda j: j.log_ts("system") - j.sent),
        "agent init -> first model call at adapter": series(
            lambda j: model_calls[j.job_id] - j.log_ts("system")
        ),
        "agent init -> agent result": series(lambda j: j.log_ts("result") - j.log_ts("system")),
        "agent result -> finished_at": series(lambda j: j.record.finished_at - j.log_ts("result")),
        "  of which result -> outcome logged (diff, commit, patch)": series(
            lambda j: j.log_ts("status", "completed:") - j.log_ts("result")
        ),
        "  of which outcome logged -> finished_at (monitor, clean-up)": series(
            lambda j: j.record.finished_at - j.log_ts("status", "completed:")
        ),
        "WAIT WAKE-UP: finished_at -> wait response": series(
            lambda j: j.wait_returned - j.record.finished_at
        ),
        "whole job: start sent -> wait response": series(lambda j: j.wait_returned - j.sent),
        "after the job: finished_at -> Celery task returned": series(
            lambda j: events[(j.job_id, "succeeded")] - j.record.finished_at
        ),
    }
    rows = {k: v for k, v in rows.items() if v}
    print(
        f"\n[1+2] dispatch and wait wake-up: {len(good)} no-op jobs, one at a time "
        f"({warmup} warm-up jobs not counted)"
    )
    if failed:
        print(
            f"  !! {len(failed)} jobs failed or never logged an init message: "
            f"{[j.job_id for j in failed][:5]}"
        )
    if late_waits:
        print(
            f"  !! {late_waits} jobs finished before their wait call was sent "
            "(wake-up not meaningful for them)"
        )
    total = statistics.median(rows["DISPATCH: start sent -> agent init"])
    print(f"  {'stage (ms)':<62} {'p50':>8} {'p99':>8} {'mean':>8}  {'p50 share of dispatch'}")
    for name, values in rows.items():
        in_dispatch = name.startswith(
            (
                "start sent",
                "QUEUE",
                "started_at",
                "worktree",
                "DISPATCH",
                "  of which created",
                "  of which received",
            )
        )
        print(stage_row(name, values, total if in_dispatch else None))
    for j in cold:
        if j.log_ts("system"):
            print(
                f"  warm-up job dispatch: {ms(j.log_ts('system') - j.sent).strip()} ms (queue->claim "
                f"{ms(j.record.started_at - j.record.created_at).strip()} ms, on {j.record.worker})"
            )
    workers = {j.record.worker for j in good}
    print(
        f"  measured jobs ran on {len(workers)} pool process(es); the worker log is "
        "parsed for the broker/pool split"
    )
    return {name: (pct(v, 50), pct(v, 99)) for name, v in rows.items()} | {
        "_n": len(good),
        "_failed": len(failed),
    }


# ----------------------------------------------------------------------------- 3: overhead


def direct_run(bench: Bench, repo: Path, prompt: str) -> tuple[dict[str, float], bool]:
    """`claude -p` in a fresh detached worktree of HEAD, created and removed inside the timing."""
    path = bench.workdir / "direct" / uuid.uuid4().hex[:12]
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(OFFLINE_CLI_ENV, HOME=str(bench.claude_home))
    env.update(ANTHROPIC_BASE_URL=bench.adapter.url, ANTHROPIC_API_KEY=bench.adapter.token)
    args = [str(claude_cli()), "-p", prompt, "--output-format", "json", "--permission-mode", "acceptEdits"]
    began = time.time()
    git(repo, "worktree", "add", "--quiet", "--detach", str(path), "HEAD")
    added = time.time()
    try:
        done = subprocess.run(
            args, cwd=path, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
        )
        ran = time.time()
        target = path / EDIT_FILE
        ok = done.returncode == 0 and target.exists() and "return 42" in target.read_text()
    finally:
        git(repo, "worktree", "remove", "--force", str(path))
    ended = time.time()
    if not ok:
        print(f"  !! direct run failed (rc={done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    return {
        "total": ended - began,
        "worktree add": added - began,
        "claude -p": ran - added,
        "worktree remove": ended - ran,
    }, ok


def farm_stages(job: FarmJob) -> dict[str, float]:
    """Where a farm job's time went, from the client's clock, the job hash and the job log."""
    init, result = job.log_ts("system"), job.log_ts("result")
    return {
        "total": job.wait_returned - job.sent,
        "start sent -> claimed": job.record.started_at - job.sent,
        "claimed -> worktree ready": job.log_ts("status", "worktree ready") - job.record.started_at,
        "worktree ready -> agent init": init - job.log_ts("status", "worktree ready"),
        "agent init -> agent result": result - init,
        "agent result -> outcome logged": job.log_ts("status", "completed:") - result,
        "outcome logged -> finished_at": job.record.finished_at - job.log_ts("status", "completed:"),
        "finished_at -> wait response": job.wait_returned - job.record.finished_at,
    }


async def overhead(client: Client, bench: Bench, repo: Path, runs: int) -> dict:
    prompt = f"Create {EDIT_FILE} and make answer() return 42. [[scenario:bench_edit]]"

    async def via_farm() -> tuple[dict[str, float], bool]:
        job = await farm_job(client, bench, repo, prompt)
        ok = job.status == "completed" and job.wait_result.get("changed_files") == [EDIT_FILE]
        if not ok:
            print(f"  !! farm run failed: {job.wait_result}")
            return {"total": job.wait_returned - job.sent}, ok
        return farm_stages(job), ok

    await via_farm(), direct_run(bench, repo, prompt)  # warm-up, not counted
    runs_of: dict[str, list[dict[str, float]]] = {"direct": [], "farm": []}
    failures = 0
    for i in range(runs):
        for which in ("direct", "farm") if i % 2 == 0 else ("farm", "direct"):
            timings, ok = direct_run(bench, repo, prompt) if which == "direct" else await via_farm()
            failures += not ok
            runs_of[which].append(timings)
    direct = [t["total"] for t in runs_of["direct"]]
    farm = [t["total"] for t in runs_of["farm"]]
    ratio_mean = statistics.fmean(farm) / statistics.fmean(direct)
    ratio_p50 = statistics.median(farm) / statistics.median(direct)
    verdict = "PASS" if ratio_mean <= GOAL_OVERHEAD_RATIO else "FAIL"
    print(
        f"\n[3] overhead: 3-turn job (Write, Edit, answer), {runs} runs each, "
        "interleaved (1 warm-up each not counted)"
    )
    print(f"  {'path (ms)':<62} {'mean':>8} {'p50':>8} {'min':>8} {'max':>8}")
    for name, values in (
        ("direct: worktree add + claude -p + worktree remove", direct),
        ("farm: start -> wait (completed)", farm),
    ):
        print(
            f"  {name:<62} {ms(statistics.fmean(values))} "
            f"{ms(statistics.median(values))} {ms(min(values))} {ms(max(values))}"
        )
    print(
        f"  ratio farm/direct: mean {ratio_mean:.3f}, p50 {ratio_p50:.3f}   goal <= {GOAL_OVERHEAD_RATIO}  "
        f"-> {verdict} (on the mean)"
    )
    print(
        f"  added per job: mean {ms(statistics.fmean(farm) - statistics.fmean(direct)).strip()} ms, p50 "
        f"{ms(statistics.median(farm) - statistics.median(direct)).strip()} ms"
    )
    for which, timings in runs_of.items():
        complete = [t for t in timings if len(t) > 1]
        if complete:
            parts = ", ".join(
                f"{stage} {statistics.median(t[stage] for t in complete) * 1000:.0f}"
                for stage in complete[0]
                if stage != "total"
            )
            print(f"  {which} p50 stages (ms): {parts}")
    if failures:
        print(f"  !! {failures} runs did not produce the expected result")
    return {
        "direct": direct,
        "farm": farm,
        "ratio_mean": ratio_mean,
        "ratio_p50": ratio_p50,
        "verdict": verdict,
        "failures": failures,
    }


# ----------------------------------------------------------------------------- 4: bytes


async def bytes_codex_receives(client: Client, bench: Bench, repo: Path, files: int) -> dict:
    prompt = f"Write the {files} generated modules under gen/. [[scenario:bench_many]]"
    job = await farm_job(client, bench, repo, prompt)
    changed = job.wait_result.get("changed_files", [])
    if job.status != "completed" or len(changed) != files:
        print(
            f"  !! many-files job: status {job.status}, {len(changed)} changed files: "
            f"{job.wait_result.get('error')}"
        )
    compact = lambda value: len(json.dumps(value, separators=(",", ":")).encode())  # noqa: E731
    start_bytes, wait_bytes = compact(job.start_result), compact(job.wait_result)
    received = start_bytes + wait_bytes
    patch = bench.store.load_patch(job.job_id) or b""
    log_bytes = sum(len(entry.text.encode()) for entry in job.log)
    full = len(patch) + log_bytes
    reduction = (1 - received / full) * 100 if full else 0.0
    verdict = "PASS" if reduction >= GOAL_BYTES_REDUCTION_PCT else "FAIL"
    print(
        f"\n[4] bytes Codex receives: one job writing {files} files "
        f"(~{len(generated_module(0))} B each), include_diff false"
    )
    print(
        f"  start result JSON {start_bytes} B + wait result JSON {wait_bytes} B = "
        f"{received} B (structured content)"
    )
    print(f"  (whole JSON-RPC results as sent, text + structured content: {job.wire_bytes} B)")
    print(f"  full patch {len(patch)} B + full log {log_bytes} B ({len(job.log)} entries) = {full} B")
    print(f"  reduction {reduction:.2f} %   goal >= {GOAL_BYTES_REDUCTION_PCT} %  -> {verdict}")
    print(f"  (job took {ms(job.wait_returned - job.sent).strip()} ms; {len(changed)} changed files)")
    return {
        "start": start_bytes,
        "wait": wait_bytes,
        "received": received,
        "wire": job.wire_bytes,
        "patch": len(patch),
        "log": log_bytes,
        "log_entries": len(job.log),
        "full": full,
        "reduction": reduction,
        "verdict": verdict,
    }


# ----------------------------------------------------------------------------- header and main


def header(argv: list[str], prog: str = "bench.farm_latency") -> None:
    """Machine, versions, the command as run and the load average, printed first by every farm benchmark."""
    versions = ", ".join(
        [
            f"Claude Code {tool_version(str(claude_cli()), '--version').split()[0]}",
            f"celery {metadata.version('celery')}",
            f"mcp {metadata.version('mcp')}",
            tool_version("redis-server", "--version").split(" sha=")[0],
            tool_version("git", "--version"),
        ]
    )
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} on {platform.system()}"
    )
    print(f"versions: {versions}")
    print(f"command: python -m {prog} {shlex.join(argv)}".rstrip())
    print(f"load average at start: {load_average()}")


async def run(bench: Bench, args: argparse.Namespace) -> dict:
    repo = make_repo(bench, "repo")
    async with connect_mcp(bench.env) as client:
        results = {"dispatch": await dispatch(client, bench, repo, args.jobs, args.warmup)}
        results["overhead"] = await overhead(client, bench, repo, args.runs)
        results["bytes"] = await bytes_codex_receives(client, bench, make_repo(bench, "many"), args.files)
    return results


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.farm_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="no-op jobs for dispatch and wait wake-up")
    parser.add_argument("--warmup", type=int, default=4, help="no-op jobs run first and not counted")
    parser.add_argument("--runs", type=int, default=20, help="direct and farm runs of the 3-turn job, each")
    parser.add_argument("--files", type=int, default=50, help="files written by the bytes job")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) after the run")
    args = parser.parse_args(argv)
    header(argv)
    with bench_workdir("farm-bench-", args.keep) as workdir:
        bench = launch(workdir, args.files)
        try:
            asyncio.run(run(bench, args))
        finally:
            stop_all(bench.stoppers)


if __name__ == "__main__":
    main()
