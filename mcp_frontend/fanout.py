"""Fan-out: one `start` call queues many jobs, from `jobs` entries or a `matrix` of prompts over one repo.

Each entry takes the arguments of a single start; the call's top-level arguments are the defaults of
every entry. The whole request is validated before anything is enqueued (see FarmService.start_fanout).
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from farm_core.job_models import CheckSpec, ScopedPatch
from mcp_frontend.apply import AutoApply
from mcp_frontend.errors import FarmError, InvalidArgument

FANOUT_DESCRIPTION = (
    "Fan-out: several jobs in one call, each entry taking the arguments of a single start (unset ones default "
    "to this call's top-level arguments). Returns {jobs: [{job_id, job_status, queue}, ...]} in entry order; "
    "nothing is enqueued unless every entry is valid. At most FARM_FANOUT_MAX entries."
)
MATRIX_DESCRIPTION = (
    "Fan-out shorthand: one job per prompt, all over the top-level repo and arguments (give no top-level prompt). "
    "Returns {jobs: [...]} like jobs."
)


class StartArgs(BaseModel):
    """The arguments of one job, as a single `start` takes them (and their defaults)."""

    prompt: str | None = None
    repo: str | None = None
    allowed_dirs: list[str] | None = None
    base: str = "worktree"
    model: str | None = None
    permission_mode: str | None = None
    include_diff: bool | None = None
    scoped_patch: ScopedPatch | None = None
    checks: list[CheckSpec] | None = None
    queue: str | None = None
    timeout_ms: int | None = None
    max_turns: int | None = None
    apply: AutoApply = "never"
    auto_revise: int = 0


class JobEntry(BaseModel):
    """One job of a fan-out: any argument of start; those left out come from the call's top level."""

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str | None, Field(description="What the agent should do.")] = None
    repo: Annotated[str | None, Field(description="Path of the git checkout (inside SANDBOX_ROOT).")] = None
    allowed_dirs: Annotated[list[str] | None, Field(description="Seed-style alias: the first entry is the repo, the others folders in it.")] = None
    base: Annotated[str | None, Field(description="'worktree', 'HEAD' or any commit-ish.")] = None
    model: Annotated[str | None, Field(description="Model name Claude Code asks for.")] = None
    permission_mode: Annotated[str | None, Field(description="default | acceptEdits | plan | bypassPermissions.")] = None
    include_diff: Annotated[bool | None, Field(description="Return the diff in the result.")] = None
    scoped_patch: Annotated[ScopedPatch | None, Field(description="Paths the agent may change.")] = None
    checks: Annotated[list[CheckSpec] | None, Field(description="Commands run after the agent.")] = None
    queue: Annotated[str | None, Field(description="Celery queue (worker pool) to run on.")] = None
    timeout_ms: Annotated[int | None, Field(description="Job timeout.")] = None
    max_turns: Annotated[int | None, Field(ge=1, le=500, description="Cap on agent turns.")] = None
    apply: Annotated[AutoApply | None, Field(description="'never' or 'on_success'.")] = None
    auto_revise: Annotated[int | None, Field(ge=0, le=3, description="Extra agent passes while checks fail (0-3).")] = None


def expand(defaults: StartArgs, jobs: list[JobEntry] | None, matrix: list[str] | None, limit: int) -> list[tuple[str, StartArgs]]:
    """One `(label, arguments)` per job, e.g. `("jobs[2]", ...)`: each entry over the top-level defaults."""
    if jobs is not None and matrix is not None:
        raise InvalidArgument("give jobs or matrix, not both")
    name, entries = ("jobs", jobs) if jobs is not None else ("matrix", matrix)
    if entries is None:
        raise InvalidArgument("give jobs or matrix for a fan-out")
    if not entries:
        raise InvalidArgument(f"{name} is empty", hint=f"give at least one {name} entry, or call start with a prompt alone")
    if len(entries) > limit:
        raise InvalidArgument(
            f"{name} has {len(entries)} entries, more than FARM_FANOUT_MAX ({limit})",
            hint="split the fan-out into several start calls, or raise FARM_FANOUT_MAX on the frontend",
        )
    if matrix is not None:
        if defaults.prompt is not None:
            raise InvalidArgument("matrix gives the prompts: leave out the top-level prompt")
        return [(f"matrix[{i}]", defaults.model_copy(update={"prompt": prompt})) for i, prompt in enumerate(matrix)]
    return [(f"jobs[{i}]", merge(defaults, entry)) for i, entry in enumerate(jobs)]


def merge(defaults: StartArgs, entry: JobEntry) -> StartArgs:
    """The entry's arguments over the defaults; an entry naming its repo (or allowed_dirs) replaces both."""
    update = {name: getattr(entry, name) for name in entry.model_fields_set if getattr(entry, name) is not None}
    if "repo" in update or "allowed_dirs" in update:
        update = {"repo": None, "allowed_dirs": None, **update}
    return defaults.model_copy(update=update)


def at(label: str, error: FarmError) -> FarmError:
    """The same error, its message prefixed with the entry it is about."""
    return type(error)(f"{label}: {error.message}", hint=error.hint)
