"""Resolving the caller's repo and path arguments safely inside SANDBOX_ROOT, and showing paths back."""

import os
from pathlib import Path

from mcp_frontend.errors import InvalidArgument, NotAGitRepo, RepoOutsideSandbox


# Linux's limits: longer names fail in every file system call (ENAMETOOLONG), so no file has them.
PATH_MAX_BYTES = 4096
NAME_MAX_BYTES = 255


def checked_path_text(text: str, what: str) -> str:
    """text unchanged when some file could have it as its path; InvalidArgument otherwise (NUL, lone surrogate, too long)."""
    if not text or "\x00" in text:
        raise InvalidArgument(f"{what} must be a non-empty path")
    try:
        encoded = os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate (a JSON "\ud800" escape) names no file
        raise InvalidArgument(f"{what} {text[:200]!r} is not a valid path (unpaired surrogate)") from None
    if len(encoded) > PATH_MAX_BYTES or any(len(name) > NAME_MAX_BYTES for name in encoded.split(b"/")):
        raise InvalidArgument(f"{what} is longer than a path can be ({PATH_MAX_BYTES} bytes, {NAME_MAX_BYTES} per name)")
    return text


def caller_path(text: str, what: str) -> Path:
    """The caller's path string as a Path with `~` expanded; InvalidArgument when no file could have that path."""
    try:
        return Path(checked_path_text(text, what)).expanduser()
    except RuntimeError:  # `~name` of a user this machine does not have
        raise InvalidArgument(f"{what} {text[:200]!r} starts with the home directory of an unknown user") from None


def printable_path(text: str) -> str:
    """A file system path as valid UTF-8 for a result: undecodable bytes of a name (surrogate escapes) shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def resolve_repo(repo: str, sandbox_root: Path) -> Path:
    """The real path of a git checkout inside the sandbox (symlinks and `..` resolved first)."""
    given = caller_path(repo, "repo")
    root = Path(os.path.realpath(sandbox_root))
    path = Path(os.path.realpath(given if given.is_absolute() else root / given))
    if path != root and root not in path.parents:
        raise RepoOutsideSandbox(f"repo {repo!r} resolves outside SANDBOX_ROOT")
    if not os.path.isdir(path):  # os.path: False rather than an OSError for a name the file system refuses
        raise NotAGitRepo(f"repo {repo!r} is not a directory")
    if not os.path.exists(path / ".git"):
        raise NotAGitRepo(f"repo {repo!r} is not the top of a git checkout (no .git)")
    return path
