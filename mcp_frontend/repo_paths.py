"""Resolving the caller's repo and path arguments safely inside SANDBOX_ROOT, and showing paths back.

The rule every tool that looks at files follows, declared here once:
- a path the caller names resolves, symlinks and `..` resolved first, inside SANDBOX_ROOT (`resolve_inside`);
- what a tool meets below it is taken as it is: a symlink is a link, shown with its target text and never
  followed (`entry_kind`, `link_target`), and only a regular file is ever opened, from the root down without
  passing through any link (`open_regular`); a FIFO, socket or device is skipped unopened (opening a FIFO
  blocks until a writer comes; a device may be endless or act on open).
"""

import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal

from mcp_frontend.errors import InvalidArgument, NotAGitRepo, RepoOutsideSandbox, ToolCallError

# Linux's limits: longer names fail in every file system call (ENAMETOOLONG), so no file has them.
PATH_MAX_BYTES = 4096
NAME_MAX_BYTES = 255


def checked_path_text(text: str, what: str) -> str:
    """text unchanged when some file could have it as its path; InvalidArgument otherwise (NUL, lone
    surrogate, too long)."""
    if not text or "\x00" in text:
        raise InvalidArgument(f"{what} must be a non-empty path")
    try:
        encoded = os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate (a JSON "\ud800" escape) names no file
        raise InvalidArgument(f"{what} {text[:200]!r} is not a valid path (unpaired surrogate)") from None
    if len(encoded) > PATH_MAX_BYTES or any(len(name) > NAME_MAX_BYTES for name in encoded.split(b"/")):
        raise InvalidArgument(
            f"{what} is longer than a path can be ({PATH_MAX_BYTES} bytes, {NAME_MAX_BYTES} per name)"
        )
    return text


def caller_path(text: str, what: str) -> Path:
    """The caller's path string as a Path with `~` expanded; InvalidArgument when no file could have that
    path."""
    try:
        return Path(checked_path_text(text, what)).expanduser()
    except RuntimeError:  # `~name` of a user this machine does not have
        raise InvalidArgument(
            f"{what} {text[:200]!r} starts with the home directory of an unknown user"
        ) from None


def printable_path(text: str) -> str:
    """A file system path as valid UTF-8 for a result: undecodable bytes of a name (surrogate escapes)
    shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def inside(path: Path, root: Path) -> bool:
    """path is root or lies below it (both already real paths)."""
    return path == root or root in path.parents


def resolve_inside(
    text: str,
    root: Path,
    what: str,
    start: Path | None = None,
    outside: type[ToolCallError] = RepoOutsideSandbox,
) -> Path:
    """The real path of the caller's path (relative ones taken from start, default root; both real paths); the
    `outside` error (the tool's stable code) when it does not lie inside root."""
    given = caller_path(text, what)
    path = Path(os.path.realpath(given if given.is_absolute() else (start or root) / given))
    if not inside(path, root):
        raise outside(f"{what} {text!r} resolves outside SANDBOX_ROOT")
    return path


def resolve_repo(repo: str, sandbox_root: Path) -> Path:
    """The real path of a git checkout inside the sandbox (symlinks and `..` resolved first)."""
    path = resolve_inside(repo, Path(os.path.realpath(sandbox_root)), "repo")
    if not os.path.isdir(path):  # os.path: False rather than an OSError for a name the file system refuses
        raise NotAGitRepo(f"repo {repo!r} is not a directory")
    if not os.path.exists(path / ".git"):
        raise NotAGitRepo(f"repo {repo!r} is not the top of a git checkout (no .git)")
    return path


def resolve_job_repo(repo: str | None, allowed_dirs: list[str] | None, sandbox_root: Path) -> Path:
    """The checkout a job works in: repo, else the first of allowed_dirs; every allowed_dirs entry must lie
    in it.

    One job has one worktree, so a folder elsewhere could not be given to its agent: it is refused, not
    dropped."""
    target = repo or (allowed_dirs[0] if allowed_dirs else "")
    if not target:
        raise InvalidArgument("give repo (or allowed_dirs with the repo first)")
    top = resolve_repo(target, sandbox_root)
    root = Path(os.path.realpath(sandbox_root))
    for index, folder in enumerate(allowed_dirs or []):
        where = f"allowed_dirs[{index}]"
        if not inside(resolve_inside(folder, root, where), top):
            raise InvalidArgument(
                f"{where} {folder!r} is outside the job's repo {target!r}",
                hint="a job works in one checkout: list only folders of the repo, and start one job per repo "
                "(jobs: [...])",
            )
    return top


EntryKind = Literal["file", "folder", "link", "special", "missing"]


def entry_kind(path: Path) -> EntryKind:
    """What path itself is, from lstat: never following a link, never opening it ("special": FIFO, socket,
    device)."""
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):  # gone meanwhile, or a name the file system refuses
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISREG(mode):
        return "file"
    return "folder" if stat.S_ISDIR(mode) else "special"


def link_target(path: Path) -> str:
    """A symlink's target text, as valid UTF-8 for a result (the link is not followed)."""
    try:
        return printable_path(os.readlink(path))
    except OSError:
        return ""


_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: should a FIFO take the file's place after the lstat, the open still returns at once.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_regular(path: Path, root: Path) -> BinaryIO | None:
    """path opened for reading when it is a regular file reached from root through no symlink; None otherwise.

    Each folder below root is opened with O_NOFOLLOW relative to the one above, so a link anywhere on the way
    (even one swapped in meanwhile) makes this None instead of leading out of root."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    if not parts:
        return None
    try:
        folder = os.open(root, _FOLDER_FLAGS)
    except OSError:
        return None
    try:
        for name in parts[:-1]:
            below = os.open(name, _FOLDER_FLAGS, dir_fd=folder)
            os.close(folder)
            folder = below
        if not stat.S_ISREG(os.stat(parts[-1], dir_fd=folder, follow_symlinks=False).st_mode):
            return None  # a FIFO, socket or device is never opened
        handle = os.open(parts[-1], _FILE_FLAGS, dir_fd=folder)
    except (OSError, ValueError):
        return None
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        return None
    os.set_blocking(handle, True)
    return os.fdopen(handle, "rb")
