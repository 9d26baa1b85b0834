"""Errors a tool call can end with: the ToolCallError subclasses, each a stable code and a fix hint."""

from farm_core.errors import FarmError


class ToolCallError(FarmError):
    """Base of the errors a tool call answers with (`{error: {code, message, hint}}`); its own code is the
    catch-all for a failure of ours. Farm errors of other kinds (git's, say) that reach a tool are bugs."""


class InvalidArgument(ToolCallError):
    code = "invalid_argument"
    hint = "fix the named argument and call again"


class RepoOutsideSandbox(ToolCallError):
    code = "repo_outside_sandbox"
    hint = "pass a repo inside SANDBOX_ROOT, or start the frontend with a wider SANDBOX_ROOT"


class NotAGitRepo(ToolCallError):
    code = "not_a_git_repo"
    hint = "pass the path of a git checkout (run `git init` first for a new project)"


class PermissionRefused(ToolCallError):
    code = "permission_refused"
    hint = "use permission_mode acceptEdits, or set ALLOW_BYPASS_PERMISSIONS=1 on the frontend and workers"


class UnknownJob(ToolCallError):
    code = "unknown_job"
    hint = "use a job_id returned by start (list_jobs shows recent ones); records expire after FARM_JOB_TTL_S"


# A job whose record went while it was known (waited for, or its log lives on): Redis lost state, most likely.
VANISHED_HINT = (
    "Redis lost the job's record (restarted without persistence, flushed, or the key was "
    "deleted): start the job again, and run Redis with appendonly yes so jobs survive a restart"
)


class SnapshotFailed(ToolCallError):
    code = "snapshot_failed"
    hint = "check that `git status` works in the repo and the base revision exists"


class BrokerUnavailable(ToolCallError):
    code = "broker_unavailable"
    hint = "start Redis or fix REDIS_URL (codex-farm up starts one locally)"


class JobNotFinished(ToolCallError):
    code = "job_not_finished"
    hint = "call wait until job_status is no longer queued or running, then apply"


class PatchUnavailable(ToolCallError):
    code = "patch_unavailable"
    hint = (
        "patches expire after FARM_JOB_TTL_S and are not stored past "
        "FARM_PATCH_MAX_BYTES; rerun the job to get a fresh one"
    )


class PatchMismatch(ToolCallError):
    code = "patch_mismatch"
    hint = (
        "nothing was written: the stored patch is not the one the worker recorded (Redis was "
        "written to after the job?); rerun the job, and check who can write to the farm's Redis"
    )


class ApplyFailed(ToolCallError):
    code = "apply_failed"
    hint = (
        "run `git status` in the repo; apply needs the job's snapshot commit "
        "(refs/codex-farm/snapshots/<job>) in it"
    )


class BundleTooLarge(ToolCallError):
    code = "bundle_too_large"
    hint = (
        "raise FARM_BUNDLE_MAX_BYTES on the frontend, or set FARM_GIT_REMOTE to a "
        "git remote the workers can fetch"
    )


class TransportFailed(ToolCallError):
    code = "transport_failed"
    hint = (
        "check FARM_TRANSPORT and FARM_GIT_REMOTE on the frontend (the remote must "
        "accept pushes from the caller)"
    )


class RequestTooLarge(ToolCallError):
    code = "request_too_large"
    hint = (
        "ask for less: keep max_bytes, max_results, limit and the number of paths or "
        "edits within the caps the tool documents"
    )


class PathNotFound(ToolCallError):
    code = "path_not_found"
    hint = "pass an existing file or folder inside SANDBOX_ROOT (search lists paths)"


class PathOutsideRepo(ToolCallError):
    code = "path_outside_repo"
    hint = (
        "give edit paths relative to repo, without `..`, outside .git and not "
        "through a symlink leading out of it"
    )


class EditMismatch(ToolCallError):
    code = "edit_mismatch"
    hint = (
        "nothing was written: re-read the file (read_pack) and fix find or count so that every edit matches"
    )


class GitQueryFailed(ToolCallError):
    code = "git_query_failed"
    hint = "check that the path is inside a git checkout and that `git status` works there"


# The cheap tools' (analyze, review, draft): one model call each.
class PathOutsideSandbox(ToolCallError):
    code = "path_outside_sandbox"
    hint = "name files and globs inside SANDBOX_ROOT (relative to repo, without `..` leaving it)"


class ModelCallFailed(ToolCallError):
    code = "model_call_failed"
    hint = (
        "check that the adapter at ADAPTER_URL runs and accepts ADAPTER_TOKEN; `codex-farm doctor` tests both"
    )


class ModelOutputInvalid(ToolCallError):
    code = "model_output_invalid"
    hint = "the model did not answer in the asked format; call again, or with a stronger model"
