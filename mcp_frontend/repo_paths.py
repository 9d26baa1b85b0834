"""Resolving the caller's repo argument safely inside SANDBOX_ROOT."""

import os
from pathlib import Path

from mcp_frontend.errors import InvalidArgument, NotAGitRepo, RepoOutsideSandbox


def resolve_repo(repo: str, sandbox_root: Path) -> Path:
    """The real path of a git checkout inside the sandbox (symlinks and `..` resolved first)."""
    if not repo or "\x00" in repo:
        raise InvalidArgument("repo must be a non-empty path")
    root = Path(os.path.realpath(sandbox_root))
    path = Path(os.path.realpath(Path(repo).expanduser() if Path(repo).expanduser().is_absolute() else root / repo))
    if path != root and root not in path.parents:
        raise RepoOutsideSandbox(f"repo {repo!r} resolves outside SANDBOX_ROOT")
    if not path.is_dir():
        raise NotAGitRepo(f"repo {repo!r} is not a directory")
    if not (path / ".git").exists():
        raise NotAGitRepo(f"repo {repo!r} is not the top of a git checkout (no .git)")
    return path
