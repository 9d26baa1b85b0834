"""The one error type every git building block raises."""

from farm_core.errors import FarmError

# Stable codes callers may branch on; the message is for humans.
GIT_FAILED = "git_failed"
GIT_MISSING = "git_missing"
GIT_TIMEOUT = "git_timeout"
NOT_A_REPO = "not_a_repo"
BAD_REVISION = "bad_revision"
INVALID_JOB_ID = "invalid_job_id"
# A job changed the git plumbing (`.git`, admin dir, mirror config) the farm reads its work through.
WORKTREE_TAMPERED = "worktree_tampered"

STDERR_LIMIT_BYTES = 2048


class GitOperationError(FarmError):
    """A git step that failed; `code` is one of the stable codes above, `stderr` the (trimmed) git output."""

    code = GIT_FAILED
    hint = "git's own words are in the error's stderr (the job log has them)"

    def __init__(self, message: str, *, code: str = GIT_FAILED, stderr: str | bytes = "") -> None:
        super().__init__(message)
        self.code = code
        self.stderr = trim_stderr(stderr)


def trim_stderr(stderr: str | bytes, limit: int = STDERR_LIMIT_BYTES) -> str:
    """Git's stderr as text, keeping only the last `limit` bytes (the `fatal:` line comes last)."""
    raw = stderr.encode("utf-8", "replace") if isinstance(stderr, str) else stderr
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace").strip()
    marker = "…"
    tail = raw[-(limit - len(marker.encode())) :]
    return marker + tail.decode("utf-8", "replace").strip()
