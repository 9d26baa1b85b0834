"""One job on a worker: worktree → agent → verify → package → clean up. Every outcome is recorded."""

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from farm_core.git_cli import no_exec_config_env
from farm_core.git_errors import WORKTREE_TAMPERED, GitOperationError
from farm_core.job_models import SCOPE_CHECK, CompactResult, JobSpec, JobStatus, PassRecord, Usage, verdict_of
from farm_core.patch_text import trim_diff
from farm_core.process_tree import kill_job_processes
from farm_core.redaction import Redactor
from farm_core.result_signature import ResultClaim, sign_result
from farm_core.scope import WriteScope
from farm_core.store import JobStore, patch_sha256
from tasks import worker_metrics
from tasks.agent_env import agent_env, base_job_env, bundled_cli, launcher_script
from tasks.agent_runner import AgentOutcome, AgentRequest, AgentSession
from tasks.cache_limits import evict_to_fit
from tasks.checks import CheckOutcome, run_checks
from tasks.leftovers import job_home
from tasks.monitor import JobMonitor
from tasks.packaging import binary_patch, changed_files, commit_tree, restore_working_tree, working_tree_id
from tasks.repo_fetch import materialize_job, push_result
from tasks.revise import Failure, failure_digest, failures_of
from tasks.sandbox import job_wrapper
from tasks.settings import WorkerSettings
from tasks.worktree import Worktree, WorktreeCache, restore_mirror_config, tampering


@dataclass
class WorkerContext:
    """What a worker process holds for every job it runs."""

    settings: WorkerSettings
    store: JobStore
    cache: WorktreeCache
    redactor: Redactor
    name: str


class JobRun:
    """State of one running job on this worker."""

    def __init__(self, spec: JobSpec, ctx: WorkerContext):
        self.spec, self.ctx = spec, ctx
        self.started = time.monotonic()
        self.home = job_home(ctx.settings.cache_dir, spec.job_id)
        self.worktree: Worktree | None = None
        self.sandbox: list[str] = []  # bwrap command line the agent and checks run under (tasks/sandbox.py)

    def log(self, kind: str, text: str) -> None:
        """Redact and append one line to the job's log stream."""
        self.ctx.store.append_log(self.spec.job_id, kind, self.ctx.redactor(text))

    def run(self) -> JobStatus:
        """Run every stage; the terminal status is written after clean-up, so `completed` means nothing is
        left."""
        deadline = time.time() + self.spec.timeout_ms / 1000
        pidfile = self.home / "agent.pid"
        ending: Ending | None = None
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            with JobMonitor(
                self.ctx.store,
                self.spec.job_id,
                self.ctx.name,
                deadline,
                self.ctx.settings.heartbeat_s,
                pidfile,
            ) as monitor:
                ending = self._stages(monitor, pidfile)
        except Exception as exc:
            error = self.ctx.redactor(f"{type(exc).__name__}: {exc}"[:500])
            self.log("error", f"job failed: {error}")
            ending = self._ending(JobStatus.failed, error)
        finally:
            self._clean_up(
                keep=ending is not None
                and ending.status != JobStatus.completed
                and self.ctx.settings.keep_failed_worktrees
            )
        if ending is not None and self.ctx.store.finish(
            self.spec.job_id, ending.status, ending.result, worker=self.ctx.name, **ending.fields
        ):
            worker_metrics.job_finished(
                self.ctx.settings, self.spec.queue, ending.status.value, time.monotonic() - self.started
            )
        self._trim_cache()  # after the result is out: cache upkeep is the worker's, not the job's, time
        # None: superseded, the lease holder reports
        return JobStatus.running if ending is None else ending.status

    def _ending(self, status: JobStatus, error: str) -> "Ending":
        return Ending(
            status, _result(self.spec, status, error=error, elapsed_ms=self._elapsed()), {"error": error}
        )

    def _stages(self, monitor: JobMonitor, pidfile: Path) -> "Ending | None":
        spec, settings = self.spec, self.ctx.settings
        self._prepare_worktree()
        scope = WriteScope(self.worktree.path, spec.scoped_patch.paths if spec.scoped_patch else None)
        work = anyio.run(self._agent_passes, self._agent_request(scope, pidfile), scope, monitor)
        if work is None or monitor.stopped.is_set():
            return self._stopped(monitor)
        outcome, files, verdicts = work.outcome, work.last.files, work.last.verdicts
        patch = self._package(work.last)  # the final pass's work as it was before its checks
        diff = trim_diff(patch, settings.diff_max_bytes) if spec.include_diff and patch else ""
        status = JobStatus.completed if outcome.ok else JobStatus.failed
        result = _result(
            spec,
            status,
            verdict=verdict_of(status, checks_passed=not work.last.failures),
            changed_files=files,
            checks=verdicts,
            diff=diff,
            usage=work.usage,
            error=None if outcome.ok else self.ctx.redactor(outcome.error or "agent failed"),
            elapsed_ms=self._elapsed(),
            passes=work.passes if spec.auto_revise else None,
        )
        self.log("status", f"{status.value}: {len(files)} files changed; " + "; ".join(verdicts))
        return Ending(status, result, {"summary": self.ctx.redactor(outcome.summary)})

    def _prepare_worktree(self) -> None:
        """The job's fresh worktree of its snapshot, and the sandbox its processes will run under (shell
        jobs too)."""
        self.log("status", f"running on {self.ctx.name}")
        self.worktree = materialize_job(self.ctx.cache, self.spec, self.ctx.store)
        self.log("status", f"worktree ready at commit {self.spec.snapshot_commit[:12]}")
        self.sandbox = job_wrapper(
            self.ctx.settings, self.worktree.path, self.worktree.mirror, self.home, self.log
        )

    async def _agent_passes(
        self, request: AgentRequest, scope: WriteScope, monitor: JobMonitor
    ) -> "AgentWork | None":
        """The agent's first pass and, while checks fail, up to `auto_revise` more in the same session.

        Each pass is verified (files, scope, checks; in a thread, off the session's event loop); before the
        next one the files the checks wrote are undone. None when the job was stopped meanwhile."""
        last_pass = 1 + self.spec.auto_revise
        escalate = self.ctx.settings.escalate_model
        work = AgentWork()
        prompt = self.spec.prompt
        async with AgentSession(request, self.log) as session:
            for number in range(1, last_pass + 1):
                if number > 1 and number == last_pass and escalate and escalate != session.model:
                    if await session.set_model(escalate):
                        self.log("status", f"pass {number}: escalated to model {escalate}")
                work.outcome = await session.run(prompt)
                work.add_usage(work.outcome.usage)
                if monitor.stopped.is_set():
                    return None
                verified = await anyio.to_thread.run_sync(self._verify, scope, work.outcome, monitor)
                if verified is None:
                    return None
                work.last = verified
                work.passes.append(PassRecord(pass_=number, model=session.model, checks=verified.verdicts))
                if not work.outcome.ok or not verified.failures or number == last_pass:
                    return work
                self.log(
                    "status",
                    f"revise pass {number + 1} of {last_pass}: "
                    + "; ".join(f.verdict for f in verified.failures),
                )
                await anyio.to_thread.run_sync(restore_working_tree, self.worktree.owned, verified.tree)
                prompt = failure_digest(verified.failures, number + 1, last_pass)
        return work

    def _verify(self, scope: WriteScope, outcome: AgentOutcome, monitor: JobMonitor) -> "Verified | None":
        """One pass's changed files, its tree before the checks, and its verdicts; None when stopped."""
        self._require_intact()
        git, base = self.worktree.owned, self.worktree.commit  # never the worktree's own `.git`
        tree = working_tree_id(git)  # before the checks, so files they create (caches, reports) stay out
        # Two git processes at once: the files and the patch both come from the tree alone (the patch from
        # base to the tree is the one from base to the result commit made on it).
        with ThreadPoolExecutor(max_workers=1) as pool:
            patch_read = pool.submit(binary_patch, git, base, tree)
            files = changed_files(git, base=base, tree=tree)
            patch = patch_read.result() if files else b""
        verdicts = [self._scope_verdict(scope, files, outcome, len(patch))] if self.spec.scoped_patch else []
        checks = self._run_checks(monitor)
        if monitor.stopped.is_set():
            return None
        verdicts += [check.verdict() for check in checks]
        return Verified(
            files=files, tree=tree, patch=patch, verdicts=verdicts, failures=failures_of(verdicts, checks)
        )

    def _agent_request(self, scope: WriteScope, pidfile: Path) -> AgentRequest:
        settings, spec = self.ctx.settings, self.spec
        cli = settings.claude_cli_path or bundled_cli()
        key = settings.adapter_token.get_secret_value() if settings.adapter_token else ""
        env = agent_env(
            spec.job_id,
            self.home,
            settings.adapter_url,
            key,
            spec.timeout_ms // 1000 + 600,
            cli,
            pidfile,
            self.sandbox,
        )
        return AgentRequest(
            prompt=spec.prompt,
            cwd=self.worktree.path,
            cli_path=launcher_script(settings.cache_dir),
            env=env,
            permission_mode=spec.permission_mode,
            model=spec.model or settings.claude_code_model,
            max_turns=spec.max_turns,
            scope=scope,
            pidfile=pidfile,
        )

    def _scope_verdict(
        self, scope: WriteScope, files: list[str], outcome: AgentOutcome, patch_bytes: int
    ) -> str:
        outside = scope.outside(files)
        limit = self.spec.scoped_patch.max_diff_bytes
        too_big = limit is not None and patch_bytes > limit
        notes = [scope.describe()]
        if outcome.denied_writes:
            notes.append(
                f"{len(outcome.denied_writes)} write(s) denied live: {', '.join(outcome.denied_writes[:5])}"
            )
        if outside:
            notes.append(f"outside scope: {', '.join(outside[:10])}")
        if too_big:
            notes.append(f"diff {patch_bytes} bytes > max_diff_bytes {limit}")
        return f"{SCOPE_CHECK}: {'failed' if outside or too_big else 'passed'} ({'; '.join(notes)})"

    def _run_checks(self, monitor: JobMonitor) -> list[CheckOutcome]:
        if not self.spec.checks:
            return []
        # A check that runs git in the worktree runs no hook or fsmonitor of the job's choosing either.
        env = base_job_env(self.spec.job_id, self.home) | no_exec_config_env()
        outcomes: list[CheckOutcome] = []
        # one at a time, so each start and verdict is in the log (wait's progress)
        for check in self.spec.checks:
            if monitor.stopped.is_set():
                break
            self.log("status", f"check {check.name}: running")
            ran = run_checks(
                [(check.name, check.command, check.timeout_ms / 1000)],
                cwd=self.worktree.path,
                env=env,
                redactor=self.ctx.redactor,
                output_cap_bytes=self.ctx.settings.check_output_max_bytes,
                on_line=lambda line: self.log("check", line),
                cancelled=monitor.stopped,
                sandbox=self.sandbox,
            )
            for outcome in ran:
                self.log("status", f"check {outcome.verdict()}")
            outcomes += ran
        return outcomes

    def _package(self, verified: "Verified") -> bytes:
        """Commit the pass's tree on the snapshot and store the patch; returns it (empty: no change).

        Plumbing only: the worktree is thrown away next, so neither its HEAD nor its index is moved."""
        if not verified.files:
            return b""
        self._require_intact()
        git, parent, job_id = self.worktree.owned, self.worktree.commit, self.spec.job_id
        commit = commit_tree(git, job_id, f"codex-farm result {job_id}", parent, verified.tree)
        patch = verified.patch
        keep = len(patch) <= self.ctx.settings.patch_max_bytes
        if not keep:
            self.log("status", f"patch of {len(patch)} bytes exceeds FARM_PATCH_MAX_BYTES; not stored")
        # The patch, its digest, the commit (and, with FARM_SIGNING_*, their signature) land in one write:
        # apply checks the patch it reads against the rest.
        claim = ResultClaim.of_job(self.spec, commit, patch_sha256(patch), verified.files)
        self.ctx.store.store_patch(
            job_id, patch, keep=keep, result_commit=commit, **sign_result(claim, self.ctx.settings)
        )
        push_result(self.spec, git.git_dir, commit, self.log)
        return patch

    def _require_intact(self) -> None:
        """Fail the job (`worktree_tampered`) when it changed the git plumbing the farm made for it."""
        reason = tampering(self.worktree)
        if reason is not None:  # the mirror's config is put back in _clean_up, however the job ends
            raise GitOperationError(f"{WORKTREE_TAMPERED}: {reason}", code=WORKTREE_TAMPERED)

    def _stopped(self, monitor: JobMonitor) -> "Ending | None":
        monitor.kill_all()
        if monitor.stop_reason == "superseded":
            self.log("status", f"{self.ctx.name} lost the job's lease; another worker runs it now")
            return None
        status = JobStatus.timed_out if monitor.stop_reason == "timed_out" else JobStatus.cancelled
        self.log("status", f"{status.value}: every process of the job was stopped")
        return self._ending(status, f"job {status.value.replace('_', ' ')}")

    def _elapsed(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def _clean_up(self, keep: bool) -> None:
        """Kill what is left of the job, remove its worktree and home."""
        try:
            kill_job_processes(self.spec.job_id)
            if self.worktree is not None and tampering(self.worktree):
                # however the job ended: the next job's git must not read it
                restore_mirror_config(self.worktree)
            if self.worktree is not None and not keep:
                self.ctx.cache.remove(self.worktree)
            shutil.rmtree(self.home, ignore_errors=True)
        except Exception as exc:  # clean-up trouble must not hide the job's outcome
            self.log("error", f"clean-up failed: {type(exc).__name__}: {exc}")

    def _trim_cache(self) -> None:
        """Keep the mirror cache under WORKER_CACHE_MAX_GB."""
        try:
            evicted = evict_to_fit(self.ctx.cache, int(self.ctx.settings.cache_max_gb * 1e9))
            if evicted:
                self.log("status", f"cache over WORKER_CACHE_MAX_GB: evicted {len(evicted)} mirror(s)")
        except Exception as exc:  # upkeep trouble must not fail the job
            self.log("error", f"cache upkeep failed: {type(exc).__name__}: {exc}")


@dataclass
class Verified:
    """What one agent pass left: changed files, its tree (before the checks) and the verdicts on it."""

    files: list[str]
    tree: str
    patch: bytes  # from the snapshot to `tree`; empty when no file changed
    verdicts: list[str]
    failures: list[Failure]


@dataclass
class AgentWork:
    """Every pass of the agent: the last outcome and verification, usage summed over passes."""

    outcome: AgentOutcome = field(default_factory=lambda: AgentOutcome(ok=False))
    last: Verified | None = None
    passes: list[PassRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    def add_usage(self, usage: Usage) -> None:
        self.usage = Usage(
            input_tokens=self.usage.input_tokens + usage.input_tokens,
            output_tokens=self.usage.output_tokens + usage.output_tokens,
            cached_tokens=self.usage.cached_tokens + usage.cached_tokens,
        )


@dataclass
class Ending:
    """How a job ends: written to its record once clean-up is done."""

    status: JobStatus
    result: CompactResult
    fields: dict[str, str]


def _result(spec: JobSpec, status: JobStatus, **fields) -> CompactResult:
    return CompactResult(job_id=spec.job_id, job_status=status, **fields)
