"""search: regex search over files inside SANDBOX_ROOT with ripgrep, or a pure-Python fallback."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mcp_frontend.errors import InvalidArgument, RequestTooLarge
from mcp_frontend.readonly.files import MAX_FILE_BYTES, list_files, read_text, resolve_all, shown
from mcp_frontend.repo_paths import entry_kind, inside

MAX_RESULTS_CAP = 500
MAX_PATHS = 50
TEXT_MAX_CHARS = 300
RG_TIMEOUT_S = 60.0

DESCRIPTION = (
    "Regex search of files inside SANDBOX_ROOT, no model involved: ripgrep when installed, else a Python "
    "scan. Skips .git, binary files, files over 5 MB, git-ignored files, FIFOs, sockets and devices; "
    "never follows a symlink met under paths. Returns matches {path, line, text} (path relative to "
    "SANDBOX_ROOT, text cut to 300 characters), sorted by path, and truncated when more matched."
)


class SearchMatch(BaseModel):
    path: str = Field(description="File, relative to SANDBOX_ROOT.")
    line: int = Field(description="1-based line number.")
    text: str = Field(description="The matching line, cut to 300 characters.")


class SearchResult(BaseModel):
    matches: list[SearchMatch]
    truncated: bool = Field(description="More lines matched than max_results.")
    engine: Literal["rg", "python"] = Field(description="What searched: ripgrep or the Python fallback.")


def search(
    root: Path,
    pattern: str,
    paths: list[str] | None,
    glob: str | None = None,
    max_results: int = 50,
    ignore_case: bool = False,
    use_rg: bool = True,
) -> SearchResult:
    """Up to max_results matching lines under paths (relative paths are taken from root)."""
    if max_results > MAX_RESULTS_CAP:
        raise RequestTooLarge(f"max_results is {max_results}, at most {MAX_RESULTS_CAP}")
    if max_results < 1:
        raise InvalidArgument("max_results must be at least 1")
    if not pattern:
        raise InvalidArgument("pattern must not be empty")
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise InvalidArgument(f"pattern is not a valid regular expression: {exc}") from None
    if glob is not None and (not glob.strip("!") or "\x00" in glob):
        raise InvalidArgument("glob must be a non-empty file pattern such as '*.py' or '!tests/**'")
    if glob is not None:
        _check_glob(glob)
    for text, what in ((pattern, "pattern"), (glob or "", "glob")):
        try:
            os.fsencode(text)  # what ripgrep's command line needs
        except UnicodeEncodeError:
            raise InvalidArgument(f"{what} has an unpaired surrogate, which no file holds") from None
    # Only files and folders are searched: ripgrep opens whatever path it is given, and a FIFO's open blocks.
    starts = [
        start for start in resolve_all(paths, root, MAX_PATHS) if entry_kind(start) in ("file", "folder")
    ]
    # A NUL cannot travel on ripgrep's command line; Python's scan can still look for it.
    rg = shutil.which("rg") if use_rg and "\x00" not in pattern else None
    if not starts:  # without paths ripgrep would search its working directory
        return SearchResult(matches=[], truncated=False, engine="rg" if rg else "python")
    if rg:
        found = _ripgrep(rg, root, pattern, starts, glob, max_results, ignore_case)
        if found is not None:
            return found
    return _python_search(root, regex, starts, glob, max_results)


def _ripgrep(
    rg: str,
    root: Path,
    pattern: str,
    starts: list[Path],
    glob: str | None,
    max_results: int,
    ignore_case: bool,
) -> SearchResult | None:
    """ripgrep's matches, or None when it could not take the pattern (the Python scan then decides)."""
    command = [
        rg,
        "--no-config",
        "--line-number",
        "--with-filename",
        "--no-heading",
        "--null",
        "--color",
        "never",
        "--sort",
        "path",
        "--hidden",
        "--glob",
        "!.git",
        "--max-filesize",
        str(MAX_FILE_BYTES),
        "--max-columns",
        "1000",
        "--max-columns-preview",
    ]
    if ignore_case:
        command.append("--ignore-case")
    if glob:
        command += ["--glob", glob]
    command += ["--regexp", pattern, "--", *map(str, starts)]
    matches: list[SearchMatch] = []
    truncated = False
    process = subprocess.Popen(
        command, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        for raw in process.stdout:
            match = _rg_line(raw, root)
            if match is None:
                continue
            if len(matches) >= max_results:
                truncated = True
                break
            matches.append(match)
    finally:
        if truncated:
            process.kill()
        try:
            _, stderr = process.communicate(timeout=RG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    if not truncated and process.returncode == 2 and not matches and b"regex" in stderr.lower():
        return None  # a pattern Python accepts but Rust's regex does not (look-around, backreferences)
    return SearchResult(matches=matches, truncated=truncated, engine="rg")


def _rg_line(raw: bytes, root: Path) -> SearchMatch | None:
    path, sep, rest = raw.partition(b"\0")
    number, sep2, text = rest.partition(b":")
    if not sep or not sep2 or not number.isdigit():
        return None
    file = Path(path.decode("utf-8", "surrogateescape"))
    if not inside(file, root):
        return None
    return SearchMatch(path=shown(file, root), line=int(number), text=_trim(text.decode("utf-8", "replace")))


def _python_search(
    root: Path, regex: re.Pattern, starts: list[Path], glob: str | None, max_results: int
) -> SearchResult:
    matches: list[SearchMatch] = []
    seen: set[Path] = set()
    for start in starts:
        for file in list_files(start, root).files:
            if file in seen or (glob and not _glob_matches(glob, file, root)):
                continue
            seen.add(file)
            text = read_text(file, root)
            if text is None:
                continue
            for number, line in enumerate(text.split("\n"), 1):
                if regex.search(line):
                    if len(matches) >= max_results:
                        return SearchResult(matches=matches, truncated=True, engine="python")
                    matches.append(SearchMatch(path=shown(file, root), line=number, text=_trim(line)))
    return SearchResult(matches=matches, truncated=False, engine="python")


def _glob_matches(glob: str, file: Path, root: Path) -> bool:
    """ripgrep's rule: a glob with a slash matches the path relative to SANDBOX_ROOT, else the file name."""
    negated = glob.startswith("!")
    pattern = glob[1:] if negated else glob
    subject = shown(file, root) if "/" in pattern else file.name
    hit = re.fullmatch(_glob_regex(pattern.lstrip("/")), subject) is not None
    return hit != negated


def _check_glob(glob: str) -> None:
    """InvalidArgument for a glob whose character class is malformed (`[z-a]`, `[!]`), before any file is
    read."""
    try:
        re.compile(_glob_regex(glob.removeprefix("!").lstrip("/")))
    except re.error as exc:
        raise InvalidArgument(f"glob {glob[:200]!r} is not a valid pattern: {exc}") from None


def _glob_regex(pattern: str) -> str:
    """A gitignore-style glob as a regex: `*` and `?` stay within one folder, `**` crosses folders."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _trim(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= TEXT_MAX_CHARS else text[: TEXT_MAX_CHARS - 1] + "…"
