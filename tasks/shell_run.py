"""A shell job on a worker: worktree → the command (the job's one check) → digest → clean up. No agent, no
model.

It is a JobRun whose middle stage is the command alone, so claim, lease, heartbeat, cancel, deadline,
clean-up and the final record are the agent job's own. Files the command writes stay in the worktree,
which is removed: nothing is committed and no patch is stored."""

import dataclasses
from pathlib import Path

from farm_core.job_models import CompactResult, JobStatus
from farm_core.shell_digest import ShellDigest, shell_digest
from tasks.checks import CheckOutcome
from tasks.monitor import JobMonitor
from tasks.pipeline import Ending, JobRun


class ShellRun(JobRun):
    """One shell job: its record ends `completed` when the command exited (whatever the exit code),
    `timed_out` past its timeout, `cancelled` on cancel; the digest is in `result.shell`."""

    def _stages(self, monitor: JobMonitor, pidfile: Path) -> Ending | None:
        spec = self.spec
        self.log("status", "shell job: the command runs without an agent")
        # the worktree and, when the worker sandboxes jobs, the sandbox the command runs in
        self._prepare_worktree()
        outcomes = self._run_checks(monitor)
        if monitor.stopped.is_set() or not outcomes:
            return self._stopped_with_digest(monitor, outcomes)
        outcome = outcomes[0]
        digest = shell_digest(outcome)
        status = JobStatus.timed_out if digest.status == "timed_out" else JobStatus.completed
        error = (
            f"command timed out after {spec.checks[0].timeout_ms} ms"
            if status == JobStatus.timed_out
            else None
        )
        result = CompactResult(
            job_id=spec.job_id,
            job_status=status,
            checks=[outcome.verdict()],
            elapsed_ms=self._elapsed(),
            error=error,
            shell=digest,
        )
        self.log("status", f"{status.value}: {_describe(digest)}")
        fields = {"summary": digest.summary_line or outcome.verdict()} | ({"error": error} if error else {})
        return Ending(status, result, fields)

    def _stopped_with_digest(self, monitor: JobMonitor, outcomes: list[CheckOutcome]) -> Ending | None:
        """The job was cancelled, passed its deadline or lost its lease; the digest of what the command did
        so far."""
        ending = self._stopped(monitor)
        if ending is not None and outcomes:
            outcome = outcomes[0]
            # the job's deadline, not the command's own timeout, stopped it
            if monitor.stop_reason == "timed_out":
                outcome = dataclasses.replace(outcome, status="timed out")
            ending.result.shell = shell_digest(outcome)
            ending.result.checks = [outcome.verdict()]
        return ending


def _describe(digest: ShellDigest) -> str:
    code = "no exit code" if digest.exit_code is None else f"exit code {digest.exit_code}"
    kind = "" if digest.failure_kind == "none" else f", {digest.failure_kind}"
    return f"command {digest.status} ({code}{kind}, {digest.output_bytes} bytes of output)"
