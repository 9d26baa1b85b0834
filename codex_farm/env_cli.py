"""`codex-farm env`: export lines that point doctor, wait, stats and a stdio `mcp` at the farm `codex-farm
up` runs.

Use it as `eval "$(codex-farm env)"`. The values come from the state file `up` keeps while it runs; with no
farm up, nothing goes to stdout (so the eval changes nothing) and a one-line hint goes to stderr.
"""

import shlex
import sys
from typing import TextIO

from codex_farm.local_state import FarmEnv, LocalPaths, LocalStateError, read_running, still_running

NOT_RUNNING = "no codex-farm up is running for this user; start one with: codex-farm up"


def export_lines(env: FarmEnv) -> list[str]:
    """One `export NAME=value` line per setting, quoted for a POSIX shell."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.variables().items()]


def run_env(out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the running farm's export lines (exit 0), or a one-line hint on stderr (exit 1)."""
    out, err = out or sys.stdout, err or sys.stderr
    paths = LocalPaths.from_env()
    try:
        recorded = read_running(paths)
    except LocalStateError as exc:
        print(f"codex-farm env: {exc}", file=err)
        return 1
    if recorded is None:
        print(f"codex-farm env: {NOT_RUNNING}", file=err)
        return 1
    if not still_running(recorded):
        print(
            f"codex-farm env: codex-farm up (pid {recorded.pid}) in "
            f"{paths.state_file} has stopped; start it again",
            file=err,
        )
        return 1
    print(f"# the farm of codex-farm up (pid {recorded.pid}), MCP at {recorded.mcp_url}", file=out)
    print("\n".join(export_lines(recorded.env)), file=out, flush=True)
    return 0
