"""history: a bounded git log of a file, or who last changed one line and the commits that touched it."""

from pathlib import Path

from pydantic import BaseModel, Field

from farm_core.git_cli import head_commit
from farm_core.git_errors import GitOperationError
from mcp_frontend.errors import GitQueryFailed, InvalidArgument, NotAGitRepo, RequestTooLarge
from mcp_frontend.readonly.files import git, git_toplevel, resolve_in_sandbox, shown
from mcp_frontend.repo_paths import open_regular, printable_path

MAX_LIMIT = 50
SUBJECT_MAX_CHARS = 200
LINE_MAX_CHARS = 300
UNCOMMITTED = "0" * 40
FIELD, RECORD = "\x1f", "\x1e"
LOG_FORMAT = f"{RECORD}%H{FIELD}%aI{FIELD}%an{FIELD}%s"

DESCRIPTION = (
    "Git history of one file or folder inside SANDBOX_ROOT, no model involved: the "
    "latest commits touching it (hash, date, author, subject; newest first, at most "
    "limit). With line, also blame for that line of the working file (the commit "
    "that last changed it) and the commits that touched that line (`git log -L`)."
)


class Commit(BaseModel):
    hash: str = Field(description="Abbreviated commit hash (12 hex digits).")
    date: str = Field(description="Author date, ISO 8601.")
    author: str
    subject: str = Field(description="First line of the message, cut to 200 characters.")


class BlameLine(BaseModel):
    line: int
    text: str = Field(description="The line as it is in the working file, cut to 300 characters.")
    committed: bool = Field(description="False when the line has uncommitted changes.")
    commit: Commit | None = Field(None, description="The commit that last changed the line.")


class HistoryResult(BaseModel):
    repo: str = Field(
        description="Top of the checkout, relative to SANDBOX_ROOT ('..' parts if it lies above it)."
    )
    path: str = Field(description="The path, relative to the repo.")
    tracked: bool = Field(description="Git knows the path (it is committed or staged).")
    blame: BlameLine | None = None
    commits: list[Commit] = Field(
        description="Newest first: commits touching the path (or, with line, that line)."
    )
    truncated: bool = Field(description="More commits exist beyond limit.")


def history(root: Path, path: str, line: int | None = None, limit: int = 10) -> HistoryResult:
    if limit > MAX_LIMIT:
        raise RequestTooLarge(f"limit is {limit}, at most {MAX_LIMIT}")
    if limit < 1:
        raise InvalidArgument("limit must be at least 1")
    if line is not None and line < 1:
        raise InvalidArgument("line must be at least 1")
    target = resolve_in_sandbox(path, root)
    top = git_toplevel(target)
    if top is None:
        raise NotAGitRepo(f"path {path!r} is not inside a git checkout")
    relative = target.relative_to(top).as_posix() if target != top else "."
    if line is not None and not target.is_file():
        raise InvalidArgument("line needs path to be a file")
    try:
        tracked = bool(git(top, "ls-files", "-z", "--", relative).strip(b"\0"))
        blame = _blame(top, target, relative, line, tracked) if line is not None else None
        if not tracked:
            commits = []
        elif head_commit(top) is None:
            commits = []  # a repo without commits yet
        elif line is not None:
            try:
                commits = _log(top, "-L", f"{line},{line}:{relative}", "--no-patch", limit=limit)
            except GitOperationError:
                commits = []  # the line (or the file) is not in HEAD yet: no commit touched it
        else:
            follow = ["--follow"] if target.is_file() else []
            commits = _log(top, *follow, "--", relative, limit=limit)
    except GitOperationError as exc:
        raise GitQueryFailed(f"git could not read the history of {path!r}: {exc.message}") from None
    return HistoryResult(
        repo=_shown_repo(top, root),
        path=printable_path(relative),
        tracked=tracked,
        blame=blame,
        commits=commits[:limit],
        truncated=len(commits) > limit,
    )


def _log(top: Path, *args: str, limit: int) -> list[Commit]:
    output = git(top, "log", f"--max-count={limit + 1}", f"--format={LOG_FORMAT}", "--no-color", *args)
    commits = []
    for record in output.decode("utf-8", "replace").split(RECORD)[1:]:
        fields = record.split("\n", 1)[0].split(FIELD)
        if len(fields) == 4:
            commits.append(_commit(*fields))
    return commits


def _commit(full_hash: str, date: str, author: str, subject: str) -> Commit:
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 1] + "…"
    return Commit(hash=full_hash[:12], date=date, author=author[:100], subject=subject)


def _blame(top: Path, target: Path, relative: str, line: int, tracked: bool) -> BlameLine:
    working, count = _working_line(top, target, line)
    if line > count:
        raise InvalidArgument(f"line {line} is past the end of {relative!r} ({count} lines)")
    if not tracked:
        return BlameLine(line=line, text=_trim(working), committed=False)
    try:
        output = git(top, "blame", "--porcelain", "-L", f"{line},{line}", "--", relative).decode(
            "utf-8", "replace"
        )
    except GitOperationError:  # staged but never committed
        return BlameLine(line=line, text=_trim(working), committed=False)
    rows = output.split("\n")
    full_hash = rows[0].split(" ", 1)[0]
    headers = dict(row.split(" ", 1) for row in rows[1:] if " " in row and not row.startswith("\t"))
    text = next((row[1:] for row in rows if row.startswith("\t")), "")
    if full_hash == UNCOMMITTED:
        return BlameLine(line=line, text=_trim(text), committed=False)
    date = git(top, "show", "-s", "--format=%aI", full_hash).decode().strip()
    commit = _commit(full_hash, date, headers.get("author", ""), headers.get("summary", ""))
    return BlameLine(line=line, text=_trim(text), committed=True, commit=commit)


def _working_line(top: Path, target: Path, line: int) -> tuple[str, int]:
    """That line of the working file and the file's line count, read only if it is a regular file
    (repo_paths rule)."""
    handle = open_regular(target, top)
    if handle is None:
        raise InvalidArgument("line needs path to be a regular file")
    text, count = b"", 0
    with handle:
        for count, raw in enumerate(handle, 1):
            if count == line:
                text = raw
    return text.decode("utf-8", "replace"), count


def _trim(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= LINE_MAX_CHARS else text[: LINE_MAX_CHARS - 1] + "…"


def _shown_repo(top: Path, root: Path) -> str:
    try:
        return shown(top, root)
    except ValueError:  # SANDBOX_ROOT lies inside the checkout
        return Path(*[".."] * (len(root.parts) - len(top.parts))).as_posix()
