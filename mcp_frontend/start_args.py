"""The arguments of `start`, declared once, in `StartArgs`: their types, defaults, bounds and descriptions.

The rest is derived from it: `JobEntry`, one job of a fan-out (the same fields, all optional), and
`StartRequest`, the tool's arguments (a job's, plus the fan-out's `jobs` and `matrix`), whose fields make
the tool's signature and so its inputSchema. FarmService.start takes a `StartArgs`.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from farm_core.job_models import CheckSpec, ScopedPatch
from mcp_frontend.apply import AutoApply


@dataclass(frozen=True)
class InEntry:
    """A field's shorter description in fan-out entries (which repeat every field: tools/list stays small)."""

    description: str


AUTO_REVISE_DESCRIPTION = (
    "0-3: when a check (or the scope) fails, the agent continues in the same session with a digest of the "
    "failing checks, up to this many more passes; the last may use the worker's WORKER_ESCALATE_MODEL. The "
    "result then lists every pass in `passes`; `checks` are the final pass's. Default 0."
)
APPLY_ON_SUCCESS = (
    "'on_success': when the job completes with every check passed, the frontend "
    "applies its patch to repo (as the apply tool, mode 3way) the first time wait "
    "or get sees it done; the outcome is in apply_result. Default 'never'."
)
FANOUT_DESCRIPTION = (
    "Fan-out: several jobs in one call, each entry taking the arguments of a single start (unset ones "
    "default to this call's top-level arguments). Returns {jobs: [{job_id, job_status, queue}, ...]} in "
    "entry order; nothing is enqueued unless every entry is valid. At most FARM_FANOUT_MAX entries."
)
MATRIX_DESCRIPTION = (
    "Fan-out shorthand: one job per prompt, all over the top-level repo and arguments (give no top-level "
    "prompt). Returns {jobs: [...]} like jobs."
)


class StartArgs(BaseModel):
    """The arguments of one job, as a single `start` takes them, with their defaults and bounds."""

    prompt: Annotated[
        str | None,
        Field(
            description="What the agent should do (required without jobs/matrix; with jobs, every entry's "
            "default)."
        ),
        InEntry("What the agent should do."),
    ] = None
    repo: Annotated[str | None, Field(description="Path of the git checkout (inside SANDBOX_ROOT).")] = None
    allowed_dirs: Annotated[
        list[str] | None,
        Field(description="Seed-style alias: the first entry is the repo, the others folders in it."),
    ] = None
    base: Annotated[
        str,
        Field(
            description="'worktree' (working tree as it is, uncommitted edits included), 'HEAD' or any "
            "commit-ish."
        ),
        InEntry("'worktree', 'HEAD' or any commit-ish."),
    ] = "worktree"
    model: Annotated[
        str | None,
        Field(description="Model name Claude Code asks for (mapped by the adapter)."),
        InEntry("Model name Claude Code asks for."),
    ] = None
    permission_mode: Annotated[
        str | None,
        Field(
            description="default | acceptEdits | plan | bypassPermissions (needs ALLOW_BYPASS_PERMISSIONS)."
        ),
        InEntry("default | acceptEdits | plan | bypassPermissions."),
    ] = None
    include_diff: Annotated[
        bool | None,
        Field(description="Return the diff (trimmed to DIFF_MAX_BYTES) in the result."),
        InEntry("Return the diff in the result."),
    ] = None
    scoped_patch: Annotated[
        ScopedPatch | None,
        Field(description="Paths the agent may change; writes elsewhere are denied."),
        InEntry("Paths the agent may change."),
    ] = None
    checks: Annotated[
        list[CheckSpec] | None,
        Field(description="Commands run after the agent; each reports passed/failed/timed out."),
        InEntry("Commands run after the agent."),
    ] = None
    queue: Annotated[str | None, Field(description="Celery queue (worker pool) to run on.")] = None
    timeout_ms: Annotated[
        int | None,
        Field(description="Job timeout; the job ends timed_out past it."),
        InEntry("Job timeout."),
    ] = None
    max_turns: Annotated[int | None, Field(ge=1, le=500, description="Cap on agent turns.")] = None
    auto_revise: Annotated[
        int,
        Field(ge=0, le=3, description=AUTO_REVISE_DESCRIPTION),
        InEntry("Extra agent passes while checks fail (0-3)."),
    ] = 0
    apply: Annotated[
        AutoApply,
        Field(description=APPLY_ON_SUCCESS),
        InEntry("'never' or 'on_success'."),
    ] = "never"


def _entry_fields(model: type[BaseModel]) -> type[BaseModel]:
    """A model with model's fields as a fan-out entry has them (see _entry_field)."""
    return create_model(
        "EntryFields", **{name: _entry_field(field) for name, field in model.model_fields.items()}
    )


def _entry_field(field: FieldInfo) -> tuple[Any, None]:
    """The field as a fan-out entry has it: optional, unset by default, bounds kept, its entry description."""
    short = next((m.description for m in field.metadata if isinstance(m, InEntry)), field.description)
    bounds = [m for m in field.metadata if not isinstance(m, InEntry)]
    return Annotated[(field.annotation | None, *bounds, Field(description=short))], None


class JobEntry(_entry_fields(StartArgs)):
    """One job of a fan-out: any argument of start; those left out come from the call's top level."""

    model_config = ConfigDict(extra="forbid")


class StartRequest(StartArgs):
    """The start tool's arguments: a job's (with jobs or matrix, every entry's defaults) and the fan-out's."""

    jobs: Annotated[list[JobEntry] | None, Field(description=FANOUT_DESCRIPTION)] = None
    matrix: Annotated[list[str] | None, Field(description=MATRIX_DESCRIPTION)] = None

    def fans_out(self) -> bool:
        """Whether the call queues several jobs (jobs or matrix given)."""
        return self.jobs is not None or self.matrix is not None

    def defaults(self) -> StartArgs:
        """The top-level arguments alone: a single job's, or every fan-out entry's defaults."""
        return StartArgs(**{name: getattr(self, name) for name in StartArgs.model_fields})
