"""Auto-revise: what the agent is told when the checks fail after its pass, so it can fix them in the same
session."""

from dataclasses import dataclass, field

from farm_core.job_models import SCOPE_CHECK
from tasks.checks import CheckOutcome

DIGEST_MAX_LINES = 40
DIGEST_MAX_BYTES = 4096
DIGEST_LINE_MAX_CHARS = 300
LINES_PER_CHECK = 20

INSTRUCTIONS = (
    "Fix the cause of these failures in the working tree. Change only what the fix "
    "needs: do not touch unrelated files, and do not weaken, skip or edit the "
    "checks themselves. Reply with a short summary when done."
)


@dataclass(frozen=True)
class Failure:
    """One failing verdict and the output lines that show why."""

    verdict: str
    lines: list[str] = field(default_factory=list)


def check_failed(check: CheckOutcome) -> bool:
    """A check that ran to a bad end (failed or timed out); a cancelled one is the job stopping, not a
    failure."""
    return check.status in ("failed", "timed out")


def scope_failed(verdict: str) -> bool:
    """Whether a `scoped_patch: …` verdict failed."""
    return verdict.startswith(f"{SCOPE_CHECK}: failed")


def failures_of(verdicts: list[str], checks: list[CheckOutcome]) -> list[Failure]:
    """The failing scope verdict (if any) and the failing checks with their decisive lines, in report
    order."""
    found = [Failure(verdict) for verdict in verdicts if scope_failed(verdict)]
    found += [
        Failure(check.verdict(), check.decisive_lines(LINES_PER_CHECK))
        for check in checks
        if check_failed(check)
    ]
    return found


def failure_digest(
    failures: list[Failure],
    next_pass: int,
    last_pass: int,
    max_lines: int = DIGEST_MAX_LINES,
    max_bytes: int = DIGEST_MAX_BYTES,
) -> str:
    """The follow-up prompt: failing check names and their decisive lines (at most `max_lines` lines and
    about `max_bytes` bytes of output in all), then the instruction to fix them and nothing else."""
    header = f"The checks failed after your changes (revision pass {next_pass} of {last_pass}):"
    body: list[str] = []
    lines_left, bytes_left, omitted = max_lines, max_bytes, 0
    for failure in failures:
        body.append(f"- {failure.verdict}")
        for line in failure.lines:
            shown = _clip(line.rstrip())
            size = len(shown.encode()) + 5
            if lines_left <= 0 or size > bytes_left:
                omitted += 1
                continue
            body.append(f"    {shown}")
            lines_left -= 1
            bytes_left -= size
    if omitted:
        body.append(f"    … {omitted} more line(s) omitted")
    return "\n".join([header, *body, "", INSTRUCTIONS])


def _clip(line: str) -> str:
    return line if len(line) <= DIGEST_LINE_MAX_CHARS else line[: DIGEST_LINE_MAX_CHARS - 1] + "…"
