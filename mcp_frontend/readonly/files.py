"""Shared by the read-only tools: sandboxed path resolution, file listing and read-only git."""

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from farm_core.git_cli import run_git
from farm_core.git_errors import GitOperationError
from mcp_frontend.errors import InvalidArgument, PathNotFound, RequestTooLarge
from mcp_frontend.repo_paths import entry_kind, inside, open_regular, printable_path, resolve_inside
from mcp_frontend.service_protocols import ReadonlyService

# Git must not even refresh the index's stat cache: these tools leave the repo byte-identical.
READ_ONLY_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0"}
GIT_TIMEOUT_S = 60.0
MAX_FILE_BYTES = 5 << 20  # larger files are skipped (generated data, not code)
MAX_LISTED_FILES = 50_000  # a folder listing stops here
BINARY_PROBE_BYTES = 8192


def sandbox_root(service: ReadonlyService) -> Path:
    """The real path of the service's SANDBOX_ROOT."""
    return Path(os.path.realpath(service.frontend.sandbox_root))


def resolve_in_sandbox(path: str, root: Path, what: str = "path") -> Path:
    """The real path of an existing file or folder inside root; relative paths are taken from root."""
    real = resolve_inside(path, root, what)
    if not os.path.exists(real):  # os.path: False rather than an OSError for a name the file system refuses
        raise PathNotFound(f"{what} {path!r} does not exist")
    return real


def resolve_all(paths: list[str] | None, root: Path, cap: int, what: str = "paths") -> list[Path]:
    """Every path resolved inside root (at least one, at most cap), duplicates dropped, order kept."""
    if not paths:
        raise InvalidArgument(f"{what}: give at least one file or folder inside SANDBOX_ROOT")
    if len(paths) > cap:
        raise RequestTooLarge(f"{what}: {len(paths)} paths given, at most {cap}")
    resolved = [resolve_in_sandbox(p, root, what) for p in paths]
    return list(dict.fromkeys(resolved))


def shown(path: Path, root: Path) -> str:
    """How a path appears in results: relative to SANDBOX_ROOT, with forward slashes."""
    return printable_path(path.relative_to(root).as_posix()) if path != root else "."


def git(cwd: Path, *args: str) -> bytes:
    """Read-only git in cwd (no optional locks, a timeout); raises GitOperationError."""
    return run_git(cwd, "-c", "log.showSignature=false", *args, env=READ_ONLY_GIT_ENV, timeout=GIT_TIMEOUT_S)


def git_toplevel(path: Path) -> Path | None:
    """The real top of the work tree holding path, or None when it is in none."""
    folder = path if path.is_dir() else path.parent
    try:
        top = git(folder, "rev-parse", "--show-toplevel").decode("utf-8", "surrogateescape").strip()
    except GitOperationError:
        return None
    return Path(os.path.realpath(top)) if top else None


@dataclass
class Listing:
    """What a folder holds for the tools: regular files and symlinks (never followed), each sorted as
    ripgrep sorts."""

    files: list[Path] = field(default_factory=list)
    links: list[Path] = field(default_factory=list)
    cut: bool = False  # the listing stopped at MAX_LISTED_FILES


def list_files(start: Path, root: Path) -> Listing:
    """Regular files and symlinks under start (start itself if a file); git-ignored files and .git left out.

    Links are listed, not followed; FIFOs, sockets and devices are left out; nothing outside root is
    listed."""
    kind = entry_kind(start)
    if kind != "folder":
        return Listing(files=[start] if kind == "file" and inside(start, root) else [])
    found: dict[Path, str] = {}
    folders = [start]
    while folders and len(found) < MAX_LISTED_FILES:
        folder = folders.pop()
        if git_toplevel(folder) is not None:
            found.update(_classified(_git_files(folder)))
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            here = Path(dirpath)
            found.update(_classified(here / name for name in filenames))
            # os.walk lists a link to a folder among the folders
            kinds = {d: entry_kind(here / d) for d in dirnames}
            found.update((here / d, "link") for d, kind in kinds.items() if kind == "link")
            nested = [d for d, kind in kinds.items() if kind == "folder" and (here / d / ".git").exists()]
            folders.extend(here / d for d in nested)
            dirnames[:] = sorted(d for d in dirnames if d != ".git" and d not in nested)
            if len(found) >= MAX_LISTED_FILES:
                break
    # as ripgrep --sort path
    listed = sorted((path for path in found if inside(path, root)), key=lambda path: path.parts)
    kept = listed[:MAX_LISTED_FILES]
    return Listing(
        files=[path for path in kept if found[path] == "file"],
        links=[path for path in kept if found[path] == "link"],
        cut=len(listed) >= MAX_LISTED_FILES,
    )


def _classified(paths: Iterable[Path]) -> dict[Path, str]:
    """The regular files and links among paths, with their kind; folders, FIFOs, sockets and devices
    dropped."""
    kinds = {path: entry_kind(path) for path in paths}
    return {path: kind for path, kind in kinds.items() if kind in ("file", "link")}


def _git_files(folder: Path) -> list[Path]:
    """Tracked and untracked, not ignored paths under folder, as git lists them (any kind of entry)."""
    try:
        output = git(folder, "ls-files", "-co", "--exclude-standard", "-z")
    except GitOperationError:
        return []
    return [folder / os.fsdecode(raw) for raw in output.split(b"\0") if raw and not raw.endswith(b"/")]


def read_text(path: Path, root: Path) -> str | None:
    """The file as text (undecodable bytes replaced), or None when it is binary, too large or not a regular
    file reached from root through no link (see repo_paths.open_regular)."""
    handle = open_regular(path, root)
    if handle is None:
        return None
    with handle:
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError:
            return None
    if len(data) > MAX_FILE_BYTES or b"\0" in data[:BINARY_PROBE_BYTES]:
        return None
    return data.decode("utf-8", "replace")
