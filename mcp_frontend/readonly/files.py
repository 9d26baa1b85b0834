"""Shared by the read-only tools: sandboxed path resolution, file listing and read-only git."""

import os
from collections.abc import Iterable
from pathlib import Path

from mcp_frontend.errors import InvalidArgument, PathNotFound, RepoOutsideSandbox, RequestTooLarge
from mcp_frontend.repo_paths import caller_path, printable_path
from tasks.git_cli import run_git
from tasks.git_errors import GitOperationError

# Git must not even refresh the index's stat cache: these tools leave the repo byte-identical.
READ_ONLY_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0"}
GIT_TIMEOUT_S = 60.0
MAX_FILE_BYTES = 5 << 20  # larger files are skipped (generated data, not code)
MAX_LISTED_FILES = 50_000  # a folder listing stops here
BINARY_PROBE_BYTES = 8192


def sandbox_root(service) -> Path:
    """The real path of the service's SANDBOX_ROOT."""
    return Path(os.path.realpath(service.frontend.sandbox_root))


def resolve_in_sandbox(path: str, root: Path, what: str = "path") -> Path:
    """The real path of an existing file or folder inside root; relative paths are taken from root."""
    given = caller_path(path, what)
    real = Path(os.path.realpath(given if given.is_absolute() else root / given))
    if not inside(real, root):
        raise RepoOutsideSandbox(f"{what} {path!r} resolves outside SANDBOX_ROOT")
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


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


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


def list_files(start: Path, root: Path) -> tuple[list[Path], bool]:
    """Regular files under start (start itself if a file), sorted; git-ignored files and .git left out.

    Returns (files, cut) where cut tells the listing stopped at MAX_LISTED_FILES. Symlinks are not
    followed, and nothing outside root is listed."""
    if start.is_file():
        return [start], False
    found: set[Path] = set()
    folders = [start]
    while folders and len(found) < MAX_LISTED_FILES:
        folder = folders.pop()
        if git_toplevel(folder) is not None:
            found.update(_git_files(folder))
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            here = Path(dirpath)
            nested = [d for d in dirnames if (here / d / ".git").exists()]
            folders.extend(here / d for d in nested)
            dirnames[:] = sorted(d for d in dirnames if d != ".git" and d not in nested)
            found.update(here / name for name in filenames if _regular(here / name))
            if len(found) >= MAX_LISTED_FILES:
                break
    files = sorted((f for f in found if inside(f, root)), key=lambda f: f.parts)  # as ripgrep --sort path
    return files[:MAX_LISTED_FILES], len(files) >= MAX_LISTED_FILES


def _git_files(folder: Path) -> Iterable[Path]:
    """Tracked and untracked, not ignored files under folder, as git sees them."""
    try:
        output = git(folder, "ls-files", "-co", "--exclude-standard", "-z")
    except GitOperationError:
        return []
    files = []
    for raw in output.split(b"\0"):
        if raw and not raw.endswith(b"/"):
            path = folder / os.fsdecode(raw)
            if _regular(path):
                files.append(path)
    return files


def _regular(path: Path) -> bool:
    return not path.is_symlink() and path.is_file()


def read_text(path: Path) -> str | None:
    """The file as text (undecodable bytes replaced), or None when it is binary or too large."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:BINARY_PROBE_BYTES]:
        return None
    return data.decode("utf-8", "replace")
