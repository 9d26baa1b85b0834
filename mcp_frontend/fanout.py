"""Fan-out: one `start` call queues many jobs, from `jobs` entries or a `matrix` of prompts over one repo.

Each entry takes the arguments of a single start; the call's top-level arguments are the defaults of
every entry. The whole request is validated before anything is enqueued (see FarmService.start_fanout).
"""

from mcp_frontend.errors import InvalidArgument, ToolCallError
from mcp_frontend.start_args import JobEntry, StartArgs, StartRequest


def expand(request: StartRequest, limit: int) -> list[tuple[str, StartArgs]]:
    """One `(label, arguments)` per job, e.g. `("jobs[2]", ...)`: each entry over the top-level defaults."""
    jobs, matrix, defaults = request.jobs, request.matrix, request.defaults()
    if jobs is not None and matrix is not None:
        raise InvalidArgument("give jobs or matrix, not both")
    name, entries = ("jobs", jobs) if jobs is not None else ("matrix", matrix)
    if entries is None:
        raise InvalidArgument("give jobs or matrix for a fan-out")
    if not entries:
        raise InvalidArgument(
            f"{name} is empty", hint=f"give at least one {name} entry, or call start with a prompt alone"
        )
    if len(entries) > limit:
        raise InvalidArgument(
            f"{name} has {len(entries)} entries, more than FARM_FANOUT_MAX ({limit})",
            hint="split the fan-out into several start calls, or raise FARM_FANOUT_MAX on the frontend",
        )
    if matrix is not None:
        if defaults.prompt is not None:
            raise InvalidArgument("matrix gives the prompts: leave out the top-level prompt")
        return [
            (f"matrix[{i}]", defaults.model_copy(update={"prompt": prompt}))
            for i, prompt in enumerate(matrix)
        ]
    return [(f"jobs[{i}]", merge(defaults, entry)) for i, entry in enumerate(jobs)]


def merge(defaults: StartArgs, entry: JobEntry) -> StartArgs:
    """The entry's arguments over the defaults; an entry naming its repo (or allowed_dirs) replaces both."""
    update = {
        name: getattr(entry, name) for name in entry.model_fields_set if getattr(entry, name) is not None
    }
    if "repo" in update or "allowed_dirs" in update:
        update = {"repo": None, "allowed_dirs": None, **update}
    return defaults.model_copy(update=update)


def at(label: str, error: ToolCallError) -> ToolCallError:
    """The same error, its message prefixed with the entry it is about."""
    return type(error)(f"{label}: {error.message}", hint=error.hint)
