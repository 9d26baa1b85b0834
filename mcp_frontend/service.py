"""The frontend's work behind each tool: validate, snapshot, enqueue, and read job state from Redis."""

import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import redis
import redis.asyncio as aioredis
from pydantic_core import to_jsonable_python

from farm_core.git_cli import JOB_ID_PATTERN
from farm_core.git_errors import GitOperationError
from farm_core.job_models import PERMISSION_MODES, CheckSpec, JobRecord, JobSpec, JobStatus
from farm_core.known_secrets import known_secrets
from farm_core.patch_text import trim_diff
from farm_core.queue import send_job
from farm_core.reconciler import reconcile_job
from farm_core.redaction import Redactor
from farm_core.settings import FarmSettings
from farm_core.store import job_store
from mcp_frontend.apply import ApplyMode, PatchApplier
from mcp_frontend.errors import (
    VANISHED_HINT,
    BrokerUnavailable,
    InvalidArgument,
    PermissionRefused,
    SnapshotFailed,
    ToolCallError,
    UnknownJob,
)
from mcp_frontend.fanout import at, expand
from mcp_frontend.job_rules import job_queue, job_timeout
from mcp_frontend.progress import LogProgress, ProgressFn
from mcp_frontend.repo_paths import resolve_job_repo
from mcp_frontend.settings import FrontendSettings
from mcp_frontend.snapshot import drop_snapshot_ref, pin_commit, resolve_commitish, snapshot_worktree
from mcp_frontend.start_args import StartArgs, StartRequest
from mcp_frontend.transport import PreparedSource, prepare_source, store_bundle
from mcp_frontend.views import (
    ApplyResult,
    CancelResult,
    JobList,
    JobRow,
    JobView,
    PendingJob,
    StartedJob,
    StartResult,
    TailResult,
    WaitMode,
    WaitResult,
)

# A tool call should fail fast with broker_unavailable rather than hang through a long outage.
FRONTEND_REDIS_RETRIES = 3
# A wait that lost Redis pauses this long before trying again; it keeps trying until its own deadline.
WAIT_RECONNECT_PAUSE_S = 0.5
LOG_CURSOR = re.compile(r"[0-9]{1,19}-[0-9]{1,19}")


@dataclass(frozen=True)
class _Plan:
    """One validated job of a start, before its snapshot: the JobSpec fields it will have."""

    job_id: str
    repo_path: Path
    base: str
    fields: dict[str, Any]


class FarmService:
    """One per frontend process: holds the Redis clients and the settings."""

    def __init__(self, frontend: FrontendSettings, farm: FarmSettings):
        self.frontend, self.farm = frontend, farm
        self.store = job_store(farm, retries=FRONTEND_REDIS_RETRIES)
        self.async_redis = aioredis.Redis.from_url(farm.redis_url)
        self.redact = Redactor(known_secrets(farm) + _frontend_secrets(frontend))
        self.applier = PatchApplier(self.store, frontend.sandbox_root, farm)

    async def start(self, args: StartArgs) -> StartResult:
        """Validate, snapshot and enqueue one job; returns at once with its id."""
        [spec] = await self._launch([(None, self._plan(args))])
        return StartResult(job_id=spec.job_id, job_status=JobStatus.queued, queue=spec.queue)

    async def start_fanout(self, request: StartRequest) -> StartResult:
        """Queue one job per `jobs` entry (over the top-level defaults) or per `matrix` prompt; all or
        nothing.

        Every entry is validated first, then each distinct (repo, base) is snapshotted once and every job gets
        its own ref on that commit; an error names the entry (`jobs[2]: ...`) and leaves nothing enqueued."""
        plans = []
        for label, args in expand(request, self.frontend.fanout_max):
            try:
                plans.append((label, self._plan(args)))
            except ToolCallError as exc:
                raise at(label, exc) from None
        specs = await self._launch(plans)
        return StartResult(
            jobs=[StartedJob(job_id=s.job_id, job_status=JobStatus.queued, queue=s.queue) for s in specs]
        )

    async def launch(self, repo_path: Path, base: str, fields: dict[str, Any]) -> JobSpec:
        """Snapshot a resolved repo at base and enqueue one job with these JobSpec fields (the shell tool's
        jobs)."""
        [spec] = await self._launch(
            [(None, _Plan(job_id=uuid.uuid4().hex, repo_path=repo_path, base=base, fields=fields))]
        )
        return spec

    def _plan(self, args: StartArgs) -> "_Plan":
        """Check one job's arguments (no git, no Redis); the JobSpec fields except its snapshot."""
        prompt = args.prompt or ""
        if not prompt.strip():
            raise InvalidArgument("prompt is empty")
        if len(prompt) > self.frontend.prompt_max_chars:
            raise InvalidArgument(
                f"prompt is longer than FARM_PROMPT_MAX_CHARS ({self.frontend.prompt_max_chars})"
            )
        repo_path = resolve_job_repo(args.repo, args.allowed_dirs, self.frontend.sandbox_root)
        mode = self._permission_mode(args.permission_mode)
        # start takes a timeout_ms of 0 and an empty queue as not given (shell refuses both).
        timeout = job_timeout(args.timeout_ms or self.farm.default_timeout_ms, self.farm)
        _check_names_unique(args.checks or [])
        queue = job_queue(args.queue or None, self.farm)
        fields = dict(
            prompt=self.redact(prompt),
            base=args.base,
            model=args.model,
            permission_mode=mode,
            include_diff=self.frontend.include_diff_default
            if args.include_diff is None
            else args.include_diff,
            scoped_patch=args.scoped_patch,
            checks=args.checks or [],
            queue=queue,
            timeout_ms=timeout,
            max_turns=args.max_turns,
            apply=args.apply,
            auto_revise=args.auto_revise,
        )
        _require_storable_text(fields)
        return _Plan(job_id=uuid.uuid4().hex, repo_path=repo_path, base=args.base, fields=fields)

    async def _launch(self, plans: list[tuple[str | None, "_Plan"]]) -> list[JobSpec]:
        """Snapshot and prepare every job (no job enqueued if one fails), then record and enqueue them in
        order."""
        prepared = await anyio.to_thread.run_sync(self._prepare_all, plans, socket.gethostname())
        specs: list[JobSpec] = []
        try:
            for (_, plan), (commit, source) in zip(plans, prepared):
                spec = JobSpec(
                    job_id=plan.job_id,
                    source=source.source,
                    snapshot_commit=commit,
                    created_at=time.time(),
                    **plan.fields,
                )
                store_bundle(self.store, plan.job_id, source.bundle)
                self._enqueue(spec)
                specs.append(spec)
        except BaseException:
            # a fan-out is all or nothing: the broker failed midway, so stop what was queued
            for spec in specs:
                with suppress(redis.RedisError):
                    self.store.request_cancel(spec.job_id)
            # no worker will run these, so nothing else would drop their refs
            for _, plan in plans[len(specs) :]:
                with suppress(GitOperationError):
                    drop_snapshot_ref(plan.repo_path, plan.job_id)
            raise
        return specs

    def _prepare_all(
        self, plans: list[tuple[str | None, "_Plan"]], host: str
    ) -> list[tuple[str, PreparedSource]]:
        """Snapshot each distinct (repo, base) once and pin every job's own ref on it; then make each
        reachable."""
        commits: dict[tuple[Path, str], str] = {}
        pinned: list[_Plan] = []
        prepared = []
        try:
            for label, plan in plans:
                try:
                    key = (plan.repo_path, plan.base)
                    if key in commits:
                        # its own ref keeps the shared snapshot alive
                        self._pin(plan.repo_path, plan.job_id, commits[key])
                    else:
                        commits[key] = self._snapshot(plan.repo_path, plan.base, plan.job_id)
                    pinned.append(plan)
                    prepared.append(
                        (
                            commits[key],
                            prepare_source(plan.repo_path, plan.job_id, commits[key], self.farm, host),
                        )
                    )
                except ToolCallError as exc:
                    if label is None:
                        raise
                    raise at(label, exc) from None
        except BaseException:
            for plan in pinned:  # no job will use these snapshots
                with suppress(GitOperationError):
                    drop_snapshot_ref(plan.repo_path, plan.job_id)
            raise
        return prepared

    @staticmethod
    def _pin(repo_path: Path, job_id: str, commit: str) -> None:
        try:
            pin_commit(repo_path, job_id, commit)
        except GitOperationError as exc:
            raise SnapshotFailed(f"could not pin the snapshot {commit[:12]}: {exc}") from None

    def _permission_mode(self, asked: str | None) -> str:
        mode = asked or self.frontend.permission_mode
        if mode not in PERMISSION_MODES:
            raise InvalidArgument(f"permission_mode must be one of {', '.join(PERMISSION_MODES)}")
        if mode == "bypassPermissions" and not self.farm.allow_bypass_permissions:
            raise PermissionRefused("bypassPermissions is refused unless ALLOW_BYPASS_PERMISSIONS=1")
        return mode

    @staticmethod
    def _snapshot(repo_path, base: str, job_id: str) -> str:
        try:
            if base == "worktree":
                return snapshot_worktree(repo_path, job_id).commit
            commit = resolve_commitish(repo_path, base)
            pin_commit(repo_path, job_id, commit)  # a ref workers can fetch, whatever the base
            return commit
        except GitOperationError as exc:
            raise SnapshotFailed(f"could not take the {base!r} snapshot: {exc}") from None

    def _enqueue(self, spec: JobSpec) -> None:
        """Record the job, then hand it to Celery; a failed hand-off ends the job `failed`, never lost."""
        try:
            self.store.create(spec)
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"cannot reach Redis: {type(exc).__name__}") from None
        try:
            send_job(spec)
        except Exception as exc:
            self.store.finish(spec.job_id, JobStatus.failed, error=f"enqueue failed: {type(exc).__name__}")
            raise BrokerUnavailable(f"cannot enqueue on the broker: {type(exc).__name__}") from None

    def record(self, job_id: str) -> JobRecord:
        """The job's record; UnknownJob when there is none."""
        # Every job id names a git ref, so one off that pattern is no job's (and one with a lone surrogate no
        # Redis key).
        if not job_id or len(job_id) > 64 or not JOB_ID_PATTERN.fullmatch(job_id):
            raise UnknownJob(f"no job {job_id[:64]!r}")
        try:
            record = self.store.get(job_id)
            if record is None:
                raise self._unknown(job_id)
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"cannot reach Redis: {type(exc).__name__}") from None
        if record.status == JobStatus.running and reconcile_job(self.store, job_id, self.farm) != "ok":
            record = self.store.get(job_id) or record  # its worker went silent: requeued or lost just now
        return record

    def _unknown(self, job_id: str) -> UnknownJob:
        """unknown_job; when keys of the job outlived its record, saying that Redis lost it."""
        keys = self.store.keys(job_id)
        if self.store.redis.exists(keys.log, keys.patch, keys.lease, keys.cancel):
            message = (
                f"job {job_id!r} has no record in Redis any more, though its log or patch is still there"
            )
            return UnknownJob(message, hint=VANISHED_HINT)
        return UnknownJob(f"no job {job_id!r}")

    def _reread(self, job_id: str, last: JobRecord, deadline: float) -> JobRecord:
        """A waited-for job's record again; while Redis is unreachable (a restart), the last one, until the
        wait's deadline.

        A record that is gone now was there when the wait began: Redis lost it (unknown_job saying so)."""
        try:
            return self.record(job_id)
        except BrokerUnavailable:
            if time.monotonic() >= deadline:
                raise
            return last
        except UnknownJob:
            raise UnknownJob(
                f"job {job_id!r} vanished from Redis while waiting for it", hint=VANISHED_HINT
            ) from None

    def get(self, job_id: str, verbose: bool = False, include_diff: bool = False) -> JobView:
        """Compact result of a finished job, or its live status; the stored diff on request."""
        record = self.record(job_id)
        view = job_view(record, verbose)
        # applies an on_success job the first time it is seen done
        view.apply_result = self.applier.on_success(record)
        if include_diff and not view.diff:
            patch = self.store.load_patch(job_id)
            view.diff = trim_diff(patch, self.farm.diff_max_bytes) if patch else ""
        return view

    def tail(self, job_id: str, lines: int, cursor: str | None) -> TailResult:
        """Log lines after the cursor (or the last `lines`), each `HH:MM:SS kind: text`."""
        record = self.record(job_id)
        if not 1 <= lines <= 1000:
            raise InvalidArgument("lines must be between 1 and 1000")
        _check_cursor(cursor)
        entries = self.store.read_log(job_id, cursor, lines)
        text = [f"{datetime.fromtimestamp(e.ts):%H:%M:%S} {e.kind}: {e.text}" for e in entries]
        next_cursor = entries[-1].cursor if entries else cursor
        return TailResult(job_id=job_id, job_status=record.status, lines=text, cursor=next_cursor)

    async def wait(self, job_id: str, timeout_ms: int | None, progress: ProgressFn | None = None) -> JobView:
        """Return when the job ends (woken by its status channel) or at the timeout; never stops the job.

        With `progress`, every tool call, check and status line the job logs meanwhile is reported through
        it."""
        timeout = timeout_ms if timeout_ms is not None else self.frontend.wait_default_ms
        if not 0 <= timeout <= self.frontend.wait_max_ms:
            raise InvalidArgument(
                f"timeout_ms must be between 0 and WAIT_MAX_MS ({self.frontend.wait_max_ms})"
            )
        record = self.record(job_id)
        pubsub = self.async_redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.store.keys(job_id).events)
        try:
            deadline = time.monotonic() + timeout / 1000
            record = self.record(job_id)  # subscribed first, so no status change can slip between
            follower = None
            if progress is not None and not record.status.terminal:
                follower = LogProgress(self.async_redis, self.store.keys(job_id).log, job_id, progress)
                await follower.catch_up()
            failure: ToolCallError | None = None
            async with anyio.create_task_group() as tasks:
                if follower is not None:
                    tasks.start_soon(follower.follow)
                try:
                    while not record.status.terminal and (remaining := deadline - time.monotonic()) > 0:
                        await _woken(pubsub, remaining)
                        record = self._reread(job_id, record, deadline)
                # raised out of the task group it would arrive wrapped, as farm_error
                except ToolCallError as error:
                    failure = error
                tasks.cancel_scope.cancel()
            if failure is not None:
                raise failure
            if follower is not None:
                await follower.drain()  # the last lines, logged just before the status changed
        finally:
            await pubsub.aclose()
        view = job_view(record, verbose=False)
        view.apply_result = await anyio.to_thread.run_sync(self.applier.on_success, record)
        return view

    async def wait_many(
        self, job_ids: list[str], mode: WaitMode, timeout_ms: int | None, progress: ProgressFn | None = None
    ) -> WaitResult:
        """Return when any (mode 'any') or every (mode 'all') job has ended, or at the timeout; never stops
        a job.

        Woken by the jobs' status channels, subscribed before the first read. With `progress`, each time
        more of the jobs have ended it reports how many."""
        timeout = timeout_ms if timeout_ms is not None else self.frontend.wait_default_ms
        if not 0 <= timeout <= self.frontend.wait_max_ms:
            raise InvalidArgument(
                f"timeout_ms must be between 0 and WAIT_MAX_MS ({self.frontend.wait_max_ms})"
            )
        ids = list(dict.fromkeys(job_ids))  # a job named twice is waited for once
        if not ids:
            raise InvalidArgument("job_ids is empty")
        if len(ids) > self.frontend.fanout_max:
            raise InvalidArgument(
                f"job_ids has {len(ids)} jobs, more than FARM_FANOUT_MAX ({self.frontend.fanout_max})"
            )
        records = {job_id: self.record(job_id) for job_id in ids}  # unknown_job before subscribing
        pubsub = self.async_redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(*(self.store.keys(job_id).events for job_id in ids))
        try:
            deadline = time.monotonic() + timeout / 1000
            # subscribed first: no status change slips between
            records = {job_id: self.record(job_id) for job_id in ids}
            reported = -1
            while True:
                ended = sum(record.status.terminal for record in records.values())
                if progress is not None and ended > reported:
                    reported = ended
                    try:
                        await progress(ended, f"{ended} of {len(ids)} jobs ended")
                    except Exception:  # a client that went away must not fail the wait
                        progress = None
                done = ended == len(ids) if mode == "all" else ended > 0
                remaining = deadline - time.monotonic()
                if done or remaining <= 0:
                    break
                await _woken(pubsub, remaining)
                records.update(
                    {
                        job_id: self._reread(job_id, record, deadline)
                        for job_id, record in records.items()
                        if not record.status.terminal
                    }
                )
        finally:
            await pubsub.aclose()
        views: list[JobView | PendingJob] = []
        for job_id in ids:
            record = records[job_id]
            if not record.status.terminal:
                views.append(PendingJob(job_id=job_id, job_status=record.status))
                continue
            view = job_view(record, verbose=False)
            view.apply_result = await anyio.to_thread.run_sync(self.applier.on_success, record)
            views.append(view)
        return WaitResult(mode=mode, done=done, jobs=views)

    async def apply(self, job_id: str, mode: ApplyMode, force: bool) -> ApplyResult:
        """Merge a finished job's patch into the repo it was started from (or dry-run it); never commits."""
        record = self.record(job_id)
        return await anyio.to_thread.run_sync(self.applier.apply, record, mode, force)

    def cancel(self, job_id: str) -> CancelResult:
        """Ask the job to stop; a queued job is cancelled at once, a running one within a second."""
        record = self.record(job_id)
        if not record.status.terminal:
            self.store.request_cancel(job_id)
            record = self.record(job_id)
        return CancelResult(
            job_id=job_id,
            job_status=record.status,
            cancel_requested=not record.status.terminal or record.status == JobStatus.cancelled,
        )

    def list_jobs(self, status: JobStatus | None, limit: int) -> JobList:
        """Newest jobs first, optionally only those with one status."""
        if not 1 <= limit <= 500:
            raise InvalidArgument("limit must be between 1 and 500")
        rows = []
        for job_id in self.store.list_ids(limit if status is None else 500):
            record = self.store.get(job_id)
            if record is None or (status is not None and record.status != status):
                continue
            result = record.result
            rows.append(
                JobRow(
                    job_id=job_id,
                    job_status=record.status,
                    verdict=record.verdict,
                    queue=record.queue,
                    created_at=record.created_at,
                    changed_files=len(result.changed_files) if result else 0,
                    elapsed_ms=result.elapsed_ms if result else 0,
                    **_shell_row(record),
                )
            )
            if len(rows) >= limit:
                break
        return JobList(jobs=rows)

    async def aclose(self) -> None:
        await self.async_redis.aclose()


async def _woken(pubsub: aioredis.client.PubSub, remaining: float) -> None:
    """Wait for a status message; losing Redis meanwhile (a restart) only pauses, and the next call reconnects
    and subscribes again (the caller re-reads the record either way, so no status change is missed)."""
    try:
        await pubsub.get_message(timeout=min(remaining, 5.0))
    except (redis.ConnectionError, redis.TimeoutError):
        await anyio.sleep(min(remaining, WAIT_RECONNECT_PAUSE_S))


def job_view(record: JobRecord, verbose: bool) -> JobView:
    """The caller's view of a record: the stored compact result, or live fields while it runs."""
    base = (
        record.result.model_dump()
        if record.result
        else {"job_id": record.job_id, "job_status": record.status}
    )
    base["job_status"] = record.status
    if not record.result and record.started_at:
        base["elapsed_ms"] = int((time.time() - record.started_at) * 1000)
    if record.error and not base.get("error"):
        base["error"] = record.error
    full = record.model_dump(mode="json") if verbose else None
    return JobView(**base, queue=record.queue, worker=record.worker, record=full)


def _shell_row(record: JobRecord) -> dict[str, str]:
    """A shell job's row says so, with how its command ended once it has."""
    if record.spec is None or record.spec.kind != "shell":
        return {}
    digest = record.result.shell if record.result else None
    return {
        "kind": "shell",
        **({"shell_status": digest.status, "failure_kind": digest.failure_kind} if digest else {}),
    }


def _check_cursor(cursor: str | None) -> None:
    """A tail cursor is a Redis stream id (`<ms>-<seq>`); anything else would fail in Redis."""
    if cursor and not (LOG_CURSOR.fullmatch(cursor) and all(int(part) < 2**63 for part in cursor.split("-"))):
        raise InvalidArgument(
            f"cursor {cursor[:80]!r} is not a tail cursor",
            hint="pass the cursor the last tail returned, or none",
        )


def _require_storable_text(fields: dict[str, Any]) -> None:
    """InvalidArgument naming the first job field whose text no JSON store can hold (an unpaired surrogate,
    e.g. "\\ud800")."""
    for where, text in _texts(to_jsonable_python(fields), ()):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            shown = ".".join(str(step) for step in where)
            raise InvalidArgument(
                f"{shown} holds an unpaired surrogate", hint="send text as valid UTF-8"
            ) from None


def _texts(value: Any, where: tuple) -> Iterator[tuple[tuple, str]]:
    """Every string in a JSON-like value, with its path of keys and indices."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, (*where, index))


def _check_names_unique(checks: list[CheckSpec]) -> None:
    names = [c.name for c in checks]
    if len(names) != len(set(names)):
        raise InvalidArgument("check names must be unique")


def _frontend_secrets(settings: FrontendSettings) -> list[str]:
    return [settings.http_token.get_secret_value()] if settings.http_token else []
