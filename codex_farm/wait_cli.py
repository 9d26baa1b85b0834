"""`codex-farm wait JOB`: follow one job from a terminal (or a script) until it ends.

Talks to Redis directly (`REDIS_URL`, `FARM_KEY_PREFIX`), like the workers. New log lines arrive
through a blocking XREAD on the job's log stream; each read returns within a second at most, so the
elapsed time and the job's status stay current. On a terminal the progress is one line redrawn in
place; otherwise (a pipe, a CI log) every log line is printed as a plain line with the same fields.
At the end the job's compact result is printed as one JSON line.

Exit status: 0 completed; 1 failed, cancelled, timed_out or lost; 2 still not ended at --timeout;
3 no such job, or Redis unreachable.
"""

import json
import shutil
import sys
import time
from datetime import datetime
from typing import TextIO

import redis

from farm_core.job_models import JobRecord, JobStatus
from farm_core.progress import JobProgress, one_line, relative_paths
from farm_core.queue import farm_settings
from farm_core.reconciler import reconcile_job
from farm_core.store import JobStore, LogEntry, job_store, log_entry

EXIT_COMPLETED, EXIT_ENDED, EXIT_TIMEOUT, EXIT_UNKNOWN = 0, 1, 2, 3
TAIL_LINES = 10  # lines of the log shown from before the command started
READ_BLOCK_MS = 1000
READ_COUNT = 200
REDIS_RETRIES = 3


class ProgressLine:
    """`running 1:23 | turns 2, tool calls 3, checks 0 | tool_call: Write {...}`: redrawn on a TTY, printed
    otherwise."""

    def __init__(self, out: TextIO, progress: JobProgress):
        self.out, self.progress = out, progress
        self.tty = out.isatty()
        self.drawn = False
        self.status: JobStatus | None = None

    def text(self, record: JobRecord) -> str:
        since = record.started_at or record.created_at
        end = record.finished_at if record.status.terminal and record.finished_at else time.time()
        seconds = max(int(end - since), 0)
        parts = [f"{record.status.value} {seconds // 60}:{seconds % 60:02d}", self.progress.counts()]
        if self.progress.last_line:
            parts.append(self.progress.last_line)
        return " | ".join(parts)

    def show(self, record: JobRecord, new_entry: bool) -> None:
        """Redraw (TTY) or, when something happened, print a line (otherwise)."""
        line = self.text(record)
        new_entry = new_entry or record.status != self.status
        self.status = record.status
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.out.write("\r\x1b[K" + (line if len(line) <= width else line[: width - 1] + "…"))
            self.drawn = True
        elif new_entry:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.out.flush()


def run_wait(job_id: str, timeout_s: float | None, out: TextIO = sys.stdout) -> int:
    """Follow the job until it ends or timeout_s passes; returns the exit status."""
    settings = farm_settings()
    try:
        store = job_store(settings, retries=REDIS_RETRIES)
        record = store.get(job_id)
    except redis.RedisError as exc:
        print(f"codex-farm wait: cannot reach Redis: {type(exc).__name__}", file=sys.stderr)
        return EXIT_UNKNOWN
    if record is None:
        print(
            f"codex-farm wait: no job {job_id!r} (under FARM_KEY_PREFIX {settings.key_prefix!r})",
            file=sys.stderr,
        )
        return EXIT_UNKNOWN
    try:
        record = _follow(store, record, timeout_s, out, settings)
    except redis.RedisError as exc:
        print(f"\ncodex-farm wait: lost Redis: {type(exc).__name__}", file=sys.stderr)
        return EXIT_UNKNOWN
    print(json.dumps(_result(record), ensure_ascii=False), file=out)
    if not record.status.terminal:
        return EXIT_TIMEOUT
    return EXIT_COMPLETED if record.status == JobStatus.completed else EXIT_ENDED


def _follow(store: JobStore, record: JobRecord, timeout_s: float | None, out: TextIO, settings) -> JobRecord:
    job_id = record.job_id
    progress = JobProgress(job_id)
    line = ProgressLine(out, progress)
    earlier = _read_all(store, job_id, "0-0")
    for entry in earlier:
        progress.feed(entry)
    for entry in earlier[-TAIL_LINES:]:
        out.write(
            f"{datetime.fromtimestamp(entry.ts):%H:%M:%S} {entry.kind}: "
            f"{one_line(relative_paths(entry.text, job_id))}\n"
        )
    cursor = earlier[-1].cursor if earlier else "0-0"
    deadline = time.monotonic() + timeout_s if timeout_s is not None else None
    line.show(record, new_entry=True)
    key = store.keys(job_id).log
    try:
        while True:
            if record.status == JobStatus.running and reconcile_job(store, job_id, settings) != "ok":
                record = store.get(job_id) or record  # its worker went silent: requeued or lost just now
            if record.status.terminal:
                for entry in _read_all(store, job_id, cursor):  # the last lines, logged just before the end
                    progress.feed(entry)
                    line.show(record, new_entry=True)
                line.show(record, new_entry=False)
                return record
            remaining_ms = READ_BLOCK_MS if deadline is None else int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return record
            reply = store.redis.xread(
                {key: cursor}, count=READ_COUNT, block=max(min(remaining_ms, READ_BLOCK_MS), 1)
            )
            record = store.get(job_id) or record
            for _, raw in reply or []:
                for entry_id, fields in raw:
                    entry = log_entry(entry_id, fields)
                    cursor = entry.cursor
                    progress.feed(entry)
                    line.show(record, new_entry=True)
            line.show(record, new_entry=False)
    finally:
        line.close()


def _read_all(store: JobStore, job_id: str, after: str) -> list[LogEntry]:
    entries: list[LogEntry] = []
    while batch := store.read_log(job_id, after, 1000):
        entries += batch
        after = batch[-1].cursor
    return entries


def _result(record: JobRecord) -> dict:
    """The compact result once the job has one; else its id, status, verdict (once it ended) and error."""
    if record.result is not None:
        result = record.result.model_dump(mode="json")
        result["job_status"] = record.status.value
        return result
    view = {"job_id": record.job_id, "job_status": record.status.value}
    if record.verdict:
        view["verdict"] = record.verdict
    if record.error:
        view["error"] = record.error
    return view
