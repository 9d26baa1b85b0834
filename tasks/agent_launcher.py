"""Starts the Claude Code CLI for a job: in its own session (so the worker can kill the whole tree),
with only the environment the job was given (never the worker's own secrets), and inside the job's
sandbox when the worker gives one.

Run as a standalone script with `python -I -S`; it imports nothing from the project."""

import ctypes
import json
import os
import signal
import sys

ENV_KEEP = "FARM_AGENT_ENV_KEEP"
PIDFILE = "FARM_AGENT_PIDFILE"
REAL_CLI = "FARM_CLAUDE_REAL"
# JSON list: the sandbox command line (bwrap … --) the CLI runs under; absent or empty: none.
SANDBOX = "FARM_AGENT_SANDBOX"
# The SDK adds its own variables; these prefixes are allowed through as well.
KEPT_PREFIXES = ("CLAUDE_CODE_", "CLAUDE_AGENT_SDK_")
PR_SET_PDEATHSIG = 1


def main() -> None:
    keep = set(os.environ.get(ENV_KEEP, "").split(","))
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith(KEPT_PREFIXES)}
    with open(os.environ[PIDFILE], "w") as pidfile:
        pidfile.write(str(os.getpid()))
    os.setsid()
    # Die with the worker process that started us (it survives execve), so a killed worker leaves no agent.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # In a sandbox our PID (the pidfile's) becomes bwrap's: killing it ends the whole sandbox
    # (--die-with-parent).
    argv = [*json.loads(os.environ.get(SANDBOX) or "[]"), os.environ[REAL_CLI], *sys.argv[1:]]
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
