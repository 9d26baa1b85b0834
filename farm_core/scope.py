"""Where a job's agent may write: inside its worktree and, when scoped, inside the allowed paths."""

import os
from pathlib import Path, PurePosixPath

# Claude Code tools that write files, and the argument naming the file.
WRITE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}


class WriteScope:
    """Decides whether a path may be written, live (per tool call) and after the run (changed files)."""

    def __init__(self, root: Path, allowed: list[str] | None):
        self.root = Path(os.path.realpath(root))
        self.allowed = [PurePosixPath(p) for p in allowed or []]

    def violation(self, file_path: str) -> str | None:
        """Why writing file_path is refused, or None when it is allowed."""
        if "\x00" in file_path:
            return "a path with a NUL byte is refused"
        target = Path(os.path.realpath(self.root / file_path))
        try:
            relative = PurePosixPath(target.relative_to(self.root).as_posix())
        except ValueError:
            return f"{file_path} is outside the job's worktree"
        if not self.in_allowed(relative):
            return f"{relative} is outside scoped_patch.paths ({', '.join(map(str, self.allowed))})"
        return None

    def in_allowed(self, relative: PurePosixPath) -> bool:
        """True when no scope is set or the path equals or lies under an allowed path."""
        if not self.allowed:
            return True
        return any(relative == allowed or allowed in relative.parents for allowed in self.allowed)

    def outside(self, changed_files: list[str]) -> list[str]:
        """Changed files (repo-relative) that the scope does not allow."""
        return [path for path in changed_files if not self.in_allowed(PurePosixPath(path))]

    def describe(self) -> str:
        return ", ".join(map(str, self.allowed)) or "whole worktree"
