"""Keeping the gateway key out of reach of the other processes of the adapter's user.

Linux lets any process of the same user read a dumpable process's `/proc/<pid>/environ`, `mem` and `fd`,
and ptrace it. At start-up the adapter makes itself non-dumpable (prctl PR_SET_DUMPABLE 0), after which all
of that needs CAP_SYS_PTRACE (root). The key can also come from a file (`ONEAPI_API_KEY_FILE`), read after
that, so the adapter's initial environment never holds it, not even between exec and the prctl.
"""

import ctypes
import sys
from pathlib import Path

from pydantic import SecretStr

PR_SET_DUMPABLE = 4


def make_undumpable() -> bool:
    """Close this process's /proc files and ptrace to its own user; False where the system cannot (not
    Linux)."""
    prctl = _prctl()
    return prctl is not None and prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


def key_from_file(path: Path, variable: str) -> SecretStr:
    """The key in the file `variable` names: its one line, without the line ending; ValueError never quotes
    it."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(
            f"{variable}: {path} cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    lines = text.splitlines()
    if len(lines) != 1 or not lines[0].strip():
        raise ValueError(f"{variable}: {path} must hold the key on exactly one line")
    return SecretStr(lines[0].strip())


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl
