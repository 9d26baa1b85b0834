"""One job on a worker: worktree → agent → verify → package → clean up. Every outcome is recorded."""

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from adapter.redaction import Redactor
from tasks.agent_env import agent_env, base_job_env, bundled_cli, launcher_script
from tasks.agent_runner import AgentOutcome, AgentRequest, run_agent
from tasks.checks import CheckOutcome, run_checks
from tasks.job_models import CompactResult, JobSpec, JobStatus
from tasks.monitor import JobMonitor
from tasks.packaging import binary_patch, changed_files, commit_result, trim_diff
from tasks.process_tree import kill_job_processes
from tasks.scope import WriteScope
from tasks.settings import FarmSettings
from tasks.store import JobStore
from tasks.worker_rules import JobRejected, check_worker_rules
from tasks.worktree import Worktree, WorktreeCache


@dataclass
class WorkerContext:
    """What a worker process holds for every job it runs."""

    settings: FarmSettings
    store: JobStore
    cache: WorktreeCache
    redactor: Redactor
    name: str


def execute_job(payload: dict, ctx: WorkerContext) -> str:
    """Run one job payload to a terminal status; returns that status."""
    spec = JobSpec.model_validate(payload)
    claim = ctx.store.claim(spec.job_id, ctx.name)
    if claim != "claimed":
        if ctx.store.cancel_requested(spec.job_id):
            ctx.store.finish(spec.job_id, JobStatus.cancelled, _result(spec, JobStatus.cancelled, error="cancelled before start"))
        return claim
    try:
        check_worker_rules(spec, ctx.settings)
    except JobRejected as exc:
        _end(ctx, spec, JobStatus.failed, error=f"rejected by worker: {exc}")
        return JobStatus.failed.value
    return JobRun(spec, ctx).run().value


class JobRun:
    """State of one running job on this worker."""

    def __init__(self, spec: JobSpec, ctx: WorkerContext):
        self.spec, self.ctx = spec, ctx
        self.started = time.monotonic()
        self.home = ctx.settings.cache_dir / "homes" / spec.job_id
        self.worktree: Worktree | None = None

    def log(self, kind: str, text: str) -> None:
        """Redact and append one line to the job's log stream."""
        self.ctx.store.append_log(self.spec.job_id, kind, self.ctx.redactor(text))

    def run(self) -> JobStatus:
        deadline = time.time() + self.spec.timeout_ms / 1000
        pidfile = self.home / "agent.pid"
        status = JobStatus.failed
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            with JobMonitor(self.ctx.store, self.spec.job_id, self.ctx.name, deadline, self.ctx.settings.heartbeat_s, pidfile) as monitor:
                status = self._stages(monitor, pidfile)
        except Exception as exc:
            self.log("error", f"job failed: {type(exc).__name__}: {exc}")
            status = JobStatus.failed
            _end(self.ctx, self.spec, status, error=self.ctx.redactor(f"{type(exc).__name__}: {exc}"[:500]), elapsed_ms=self._elapsed())
        finally:
            self._clean_up(keep=status != JobStatus.completed and self.ctx.settings.keep_failed_worktrees)
        return status

    def _stages(self, monitor: JobMonitor, pidfile: Path) -> JobStatus:
        spec, settings = self.spec, self.ctx.settings
        self.log("status", f"running on {self.ctx.name}")
        self.worktree = self.ctx.cache.materialize(spec.source.location, spec.snapshot_commit, spec.job_id)
        self.log("status", f"worktree ready at commit {spec.snapshot_commit[:12]}")
        scope = WriteScope(self.worktree.path, spec.scoped_patch.paths if spec.scoped_patch else None)
        outcome = anyio.run(run_agent, self._agent_request(scope, pidfile), self.log)
        if monitor.stopped.is_set():
            return self._stopped(monitor)
        files = changed_files(self.worktree.path, base=self.worktree.commit)
        verdicts = [self._scope_verdict(scope, files, outcome)] if spec.scoped_patch else []
        checks = self._run_checks(monitor)
        if monitor.stopped.is_set():
            return self._stopped(monitor)
        verdicts += [check.verdict() for check in checks]
        diff = self._package()
        status = JobStatus.completed if outcome.ok else JobStatus.failed
        result = _result(
            spec, status, changed_files=files, checks=verdicts, diff=diff, usage=outcome.usage,
            error=None if outcome.ok else self.ctx.redactor(outcome.error or "agent failed"), elapsed_ms=self._elapsed(),
        )
        self.ctx.store.finish(spec.job_id, status, result, worker=self.ctx.name, summary=self.ctx.redactor(outcome.summary))
        self.log("status", f"{status.value}: {len(files)} files changed; " + "; ".join(verdicts))
        return status

    def _agent_request(self, scope: WriteScope, pidfile: Path) -> AgentRequest:
        settings, spec = self.ctx.settings, self.spec
        cli = settings.claude_cli_path or bundled_cli()
        key = settings.adapter_token.get_secret_value() if settings.adapter_token else ""
        env = agent_env(spec.job_id, self.home, settings.adapter_url, key, spec.timeout_ms // 1000 + 600, cli, pidfile)
        return AgentRequest(
            prompt=spec.prompt,
            cwd=self.worktree.path,
            cli_path=launcher_script(settings.cache_dir),
            env=env,
            permission_mode=spec.permission_mode,
            model=spec.model or settings.claude_code_model,
            max_turns=spec.max_turns,
            scope=scope,
        )

    def _scope_verdict(self, scope: WriteScope, files: list[str], outcome: AgentOutcome) -> str:
        outside = scope.outside(files)
        notes = [scope.describe()]
        if outcome.denied_writes:
            notes.append(f"{len(outcome.denied_writes)} write(s) denied live: {', '.join(outcome.denied_writes[:5])}")
        if outside:
            notes.append(f"outside scope: {', '.join(outside[:10])}")
        return f"scoped_patch: {'failed' if outside else 'passed'} ({'; '.join(notes)})"

    def _run_checks(self, monitor: JobMonitor) -> list[CheckOutcome]:
        if not self.spec.checks:
            return []
        env = base_job_env(self.spec.job_id, self.home)
        specs = [(c.name, c.command, c.timeout_ms / 1000) for c in self.spec.checks]
        return run_checks(
            specs, cwd=self.worktree.path, env=env, redactor=self.ctx.redactor,
            output_cap_bytes=self.ctx.settings.check_output_max_bytes,
            on_line=lambda line: self.log("check", line), cancelled=monitor.stopped,
        )

    def _package(self) -> str:
        """Commit the changes on the snapshot, store the patch; return the diff the caller sees."""
        commit = commit_result(self.worktree.path, self.spec.job_id, f"codex-farm result {self.spec.job_id}", base=self.worktree.commit)
        if commit is None:
            return ""
        patch = binary_patch(self.worktree.path, commit.parent, commit.commit)
        if len(patch) <= self.ctx.settings.patch_max_bytes:
            self.ctx.store.store_patch(self.spec.job_id, patch)
        else:
            self.log("status", f"patch of {len(patch)} bytes exceeds FARM_PATCH_MAX_BYTES; not stored")
        self.ctx.store.set_fields(self.spec.job_id, result_commit=commit.commit)
        return trim_diff(patch, self.ctx.settings.diff_max_bytes) if self.spec.include_diff else ""

    def _stopped(self, monitor: JobMonitor) -> JobStatus:
        monitor.kill_all()
        if monitor.stop_reason == "superseded":
            self.log("status", f"{self.ctx.name} lost the job's lease; another worker runs it now")
            return JobStatus.running
        status = JobStatus.timed_out if monitor.stop_reason == "timed_out" else JobStatus.cancelled
        self.log("status", f"{status.value}: every process of the job was stopped")
        _end(self.ctx, self.spec, status, error=f"job {status.value.replace('_', ' ')}", elapsed_ms=self._elapsed())
        return status

    def _elapsed(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def _clean_up(self, keep: bool) -> None:
        kill_job_processes(self.spec.job_id)
        if self.worktree is not None and not keep:
            self.ctx.cache.remove(self.worktree)
        shutil.rmtree(self.home, ignore_errors=True)


def _result(spec: JobSpec, status: JobStatus, **fields) -> CompactResult:
    return CompactResult(job_id=spec.job_id, job_status=status, **fields)


def _end(ctx: WorkerContext, spec: JobSpec, status: JobStatus, error: str, elapsed_ms: int = 0) -> None:
    result = _result(spec, status, error=error, elapsed_ms=elapsed_ms)
    ctx.store.finish(spec.job_id, status, result, worker=ctx.name, error=error)
