"""Choosing files inside the sandbox and reading bounded slices of them (never writing anything)."""

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mcp_frontend.errors import InvalidArgument, PathOutsideSandbox
from mcp_frontend.repo_paths import checked_path_text, inside, open_regular, printable_path, resolve_inside

MAX_NAMED = 50  # files plus globs one call may name
MAX_FILES = 50  # files read by one call
MAX_GLOB_MATCHES = 2000  # paths a glob may walk before it is cut
MAX_GLOB_PARTS = 64
FILE_MAX_BYTES = 20_000
TOTAL_MAX_BYTES = 100_000
SKIPPED_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"}


@dataclass
class FileSlice:
    name: str
    text: str
    size: int
    shown: int


@dataclass
class Selection:
    """The slices to show the model and a note for everything cut or left out."""

    slices: list[FileSlice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.slices]


def resolve_dir(repo: str | None, sandbox_root: Path) -> tuple[Path, Path]:
    """(real sandbox root, real base directory): `repo` or the sandbox root itself."""
    root = Path(os.path.realpath(sandbox_root))
    if repo is None or repo == "":
        return root, root
    base = resolve_inside(repo, root, "repo", outside=PathOutsideSandbox)
    if not os.path.isdir(base):  # os.path: False rather than an OSError for a name the file system refuses
        raise InvalidArgument(f"repo {repo!r} is not a directory")
    return root, base


def select_files(
    files: list[str] | None, globs: list[str] | None, base: Path, root: Path
) -> tuple[list[Path], list[str]]:
    """Real paths of the named files and glob matches (each inside the sandbox), de-duplicated, in order."""
    files, globs = files or [], globs or []
    if not files and not globs:
        raise InvalidArgument("give files or globs")
    if len(files) + len(globs) > MAX_NAMED:
        raise InvalidArgument(f"at most {MAX_NAMED} files and globs per call")
    chosen: list[Path] = []
    notes: list[str] = []
    for name in files:
        path = resolve_inside(name, root, "file", start=base, outside=PathOutsideSandbox)
        if not os.path.isfile(path):
            raise InvalidArgument(f"file {name!r} is not a readable file")
        chosen.append(path)
    for pattern in globs:
        chosen += _glob(pattern, base, root, notes)
    unique = list(dict.fromkeys(chosen))
    if len(unique) > MAX_FILES:
        notes.append(f"{len(unique) - MAX_FILES} more files matched; only the first {MAX_FILES} are read")
        unique = unique[:MAX_FILES]
    return unique, notes


def _glob(pattern: str, base: Path, root: Path, notes: list[str]) -> list[Path]:
    parts = PurePosixPath(pattern).parts
    if not pattern or "\x00" in pattern or PurePosixPath(pattern).is_absolute() or ".." in parts:
        raise PathOutsideSandbox(f"glob {pattern!r} must be relative to repo and stay inside it")
    if not parts:  # '.' or './': pathlib has nothing to match
        raise InvalidArgument(f"glob {pattern!r} matches no files; name some, e.g. '*.py' or 'src/**/*.py'")
    checked_path_text(pattern, "glob")
    # pathlib builds one nested selector per part: hundreds overflow the stack
    if len(parts) > MAX_GLOB_PARTS:
        raise InvalidArgument(f"glob has {len(parts)} path parts, at most {MAX_GLOB_PARTS}")
    found: list[Path] = []
    walked = 0
    for match in _matches(base, pattern):
        walked += 1
        if walked > MAX_GLOB_MATCHES:
            notes.append(
                f"glob {pattern!r} matched more than {MAX_GLOB_MATCHES} paths; the rest were not read"
            )
            break
        relative = match.relative_to(base).parts
        if any(part in SKIPPED_DIRS for part in relative[:-1]):
            continue
        real = Path(os.path.realpath(match))
        if not inside(real, root):
            notes.append(
                f"{printable_path(str(match.relative_to(base)))}: left out (resolves outside SANDBOX_ROOT)"
            )
            continue
        if real.is_file():
            found.append(real)
    if not found:
        notes.append(f"glob {pattern!r} matched no files")
    return sorted(found)


def _matches(base: Path, pattern: str):
    """base.glob(pattern), with pathlib's refusal of a malformed pattern (e.g. 'a**') as InvalidArgument."""
    try:
        yield from base.glob(pattern)
    except ValueError as exc:
        raise InvalidArgument(f"glob {pattern!r} is not a valid pattern: {exc}") from None


def display_name(path: Path, base: Path, root: Path) -> str:
    return printable_path(str(path.relative_to(base if inside(path, base) else root)))


def read_slices(
    paths: list[Path], base: Path, root: Path, notes: list[str], number_lines: bool = False
) -> Selection:
    """The first FILE_MAX_BYTES of each file, TOTAL_MAX_BYTES in all; binary files are left out."""
    selection = Selection(notes=list(notes))
    budget = TOTAL_MAX_BYTES
    for path in paths:
        name = display_name(path, base, root)
        if budget <= 0:
            selection.notes.append(f"{name}: left out (total cap of {TOTAL_MAX_BYTES} bytes reached)")
            continue
        # From the sandbox root down through no link, never a FIFO or device: a swap since the check leads
        # nowhere.
        handle = open_regular(path, root)
        if handle is None:
            selection.notes.append(f"{name}: left out (not a regular file inside SANDBOX_ROOT)")
            continue
        try:
            with handle:
                size = os.fstat(handle.fileno()).st_size
                data = handle.read(min(FILE_MAX_BYTES, budget))
        except OSError as exc:
            selection.notes.append(f"{name}: left out (unreadable: {type(exc).__name__})")
            continue
        if b"\x00" in data[:8192]:
            selection.notes.append(f"{name}: left out (binary)")
            continue
        if len(data) < size:
            cut = data.rfind(b"\n") + 1 or len(data)  # whole lines when there are any
            data = data[:cut]
            selection.notes.append(f"{name}: first {len(data)} of {size} bytes")
        budget -= len(data)
        text = data.decode("utf-8", "replace")
        if number_lines:
            text = "".join(f"{n:>5} {line}" for n, line in enumerate(text.splitlines(keepends=True), start=1))
        selection.slices.append(FileSlice(name=name, text=text, size=size, shown=len(data)))
    return selection


def render(selection: Selection) -> str:
    """The slices as one block of text for a prompt."""
    parts = []
    for piece in selection.slices:
        cut = "" if piece.shown == piece.size else f" (first {piece.shown} of {piece.size} bytes)"
        parts.append(
            f"=== {piece.name}{cut} ===\n{piece.text}{'' if piece.text.endswith(chr(10)) else chr(10)}"
        )
    if selection.notes:
        parts.append("=== not shown ===\n" + "\n".join(selection.notes) + "\n")
    return "".join(parts)
