"""Could this box's agents read the adapter's gateway key? What `codex-farm doctor` looks at, through /proc.

An unsandboxed agent runs as the worker's user with the worker's capabilities. It can read another process's
environment and memory when it holds CAP_SYS_PTRACE (root, unless the capability is dropped), or when that
process has its uid and is dumpable: an adapter from before the key guard, or one started some other way.
"""

import os
from dataclasses import dataclass
from pathlib import Path

CAP_SYS_PTRACE = 19
_PROC = Path("/proc")
_PROGRAM_NAMES = ("codex-farm", "codex_farm")


@dataclass(frozen=True)
class AdapterProcess:
    """A `codex-farm adapter` process on this box, its real uid, and whether this process can read its
    environment."""

    pid: int
    uid: int
    environ_readable: bool


def can_read_any_process() -> bool:
    """Whether this process, or a program it starts, holds CAP_SYS_PTRACE (root regains its bounding set on
    exec)."""
    status = _status(_PROC / "self" / "status")
    effective, bounding = status.get("CapEff", 0), status.get("CapBnd", 0)
    bit = 1 << CAP_SYS_PTRACE
    return bool(effective & bit) or (os.geteuid() == 0 and bool(bounding & bit))


def local_adapters() -> list[AdapterProcess]:
    """Every adapter process this box shows, by PID."""
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or not _is_adapter(entry):
            continue
        uid = _status(entry / "status").get("Uid")
        if uid is not None:
            found.append(AdapterProcess(int(entry.name), uid, _readable(entry / "environ")))
    return sorted(found, key=lambda process: process.pid)


def _is_adapter(entry: Path) -> bool:
    """`codex-farm adapter ...` or `python -m codex_farm adapter ...` (an installed script runs as `python
    .../codex-farm`)."""
    try:
        argv = entry.joinpath("cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [part.decode(errors="replace") for part in argv]
    return any(
        Path(word).name in _PROGRAM_NAMES and following == "adapter"
        for word, following in zip(words, words[1:])
    )


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb") as opened:
            opened.read(1)
    except OSError:
        return False
    return True


def _status(path: Path) -> dict[str, int]:
    """The capability sets (hex) and real uid of /proc/<pid>/status; empty when it cannot be read."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    parsed = {name: int(fields[name].strip(), 16) for name in ("CapEff", "CapBnd") if name in fields}
    if "Uid" in fields:
        parsed["Uid"] = int(fields["Uid"].split()[0])
    return parsed
