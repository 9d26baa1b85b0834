"""apply_edits: exact find/replace edits in a repo, all validated before any file is written."""

import os
import re
import stat
import tempfile
from contextlib import suppress
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from mcp_frontend.errors import EditMismatch, InvalidArgument, PathNotFound, PathOutsideRepo, RequestTooLarge
from mcp_frontend.readonly.files import BINARY_PROBE_BYTES, MAX_FILE_BYTES
from mcp_frontend.repo_paths import checked_path_text, inside, open_regular, printable_path, resolve_repo

MAX_EDITS = 50
MAX_EDIT_CHARS = 1 << 20  # find + replace text over all edits

DESCRIPTION = (
    "Exact text edits in a git checkout inside SANDBOX_ROOT, no model involved. Each edit "
    "replaces find by replace in path (relative to repo), literally or as a Python regex "
    "(replace may then use \\1 or \\g<name>), and must make exactly count replacements (default "
    "1). Every edit is checked against the current files first; if any fails nothing is written "
    "(edit_mismatch lists them all). Files are replaced atomically, mode kept; never staged."
)


class Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="File relative to repo (no '..', not in .git).")
    find: str = Field(min_length=1, description="Text to find (a regex when regex is true).")
    replace: str = Field(description="Replacement text.")
    regex: bool = Field(False, description="find is a Python regular expression (MULTILINE).")
    count: int = Field(1, ge=1, description="Exact number of replacements expected.")


class EditedFile(BaseModel):
    path: str = Field(description="File relative to repo.")
    replacements: int
    bytes_before: int
    bytes_after: int


class ApplyEditsResult(BaseModel):
    repo: str = Field(description="The checkout, relative to SANDBOX_ROOT.")
    files: list[EditedFile]
    edits: int = Field(description="Edits applied.")


def apply_edits(root: Path, repo: str, edits: list[Edit]) -> ApplyEditsResult:
    if not edits:
        raise InvalidArgument("edits: give at least one edit")
    if len(edits) > MAX_EDITS:
        raise RequestTooLarge(f"edits: {len(edits)} given, at most {MAX_EDITS} per call")
    if sum(len(e.find) + len(e.replace) for e in edits) > MAX_EDIT_CHARS:
        raise RequestTooLarge(f"edits: find and replace texts exceed {MAX_EDIT_CHARS} characters in all")
    top = resolve_repo(repo, root)

    targets = [_target(top, edit.path, index) for index, edit in enumerate(edits)]
    originals: dict[Path, bytes] = {}
    contents: dict[Path, str] = {}
    counts: dict[Path, int] = {}
    failures = []
    for index, (edit, target) in enumerate(zip(edits, targets)):
        if target not in contents:
            originals[target] = _read(top, target, edit.path, index)
            contents[target] = originals[target].decode("utf-8", "surrogateescape")
            counts[target] = 0
        new, found = _replace(contents[target], edit, index)
        if found != edit.count:
            failures.append(
                f"edits[{index}] {printable_path(edit.path)}: find matched {found} "
                f"time(s), count expects {edit.count}"
            )
            continue
        contents[target] = new
        counts[target] += found
    if failures:
        raise EditMismatch("; ".join(failures))

    written: list[tuple[Path, bytes]] = []
    try:
        for target, original in originals.items():
            if _content(top, target) != original:
                raise EditMismatch(
                    f"{_shown(target, top)} changed while the edits were checked; nothing else was written"
                )
            _atomic_write(target, contents[target].encode("utf-8", "surrogateescape"))
            written.append((target, original))
    except BaseException:
        for target, original in written:  # all or nothing: put back what was already replaced
            _atomic_write(target, original)
        raise
    files = [
        EditedFile(
            path=_shown(t, top),
            replacements=counts[t],
            bytes_before=len(originals[t]),
            bytes_after=len(contents[t].encode("utf-8", "surrogateescape")),
        )
        for t in originals
    ]
    return ApplyEditsResult(repo=_shown(top, root), files=files, edits=len(edits))


def _target(top: Path, path: str, index: int) -> Path:
    """The real file an edit writes, refused unless it stays inside the repo and out of .git."""
    where = f"edits[{index}].path {path!r}"
    checked_path_text(path, f"edits[{index}].path")
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or Path(path).is_absolute():
        raise PathOutsideRepo(f"{where} must be relative to repo, without '..'")
    real = Path(os.path.realpath(top / pure))
    if not inside(real, top) or real == top:
        raise PathOutsideRepo(f"{where} resolves outside the repo")
    if ".git" in real.relative_to(top).parts:
        raise PathOutsideRepo(f"{where} is inside .git")
    if not os.path.isfile(real):  # os.path: False rather than an OSError for a name the file system refuses
        raise PathNotFound(f"{where} is not an existing file")
    return real


def _read(top: Path, target: Path, path: str, index: int) -> bytes:
    data = _content(top, target)
    if data is None:
        raise PathNotFound(f"edits[{index}].path {path!r} is not an existing regular file")
    if len(data) > MAX_FILE_BYTES:
        raise RequestTooLarge(f"edits[{index}].path {path!r} is larger than {MAX_FILE_BYTES} bytes")
    if b"\0" in data[:BINARY_PROBE_BYTES]:
        raise InvalidArgument(f"edits[{index}].path {path!r} is a binary file")
    return data


def _content(top: Path, target: Path) -> bytes | None:
    """The file's bytes (at most one past MAX_FILE_BYTES) when it is a regular file reached through no
    link."""
    handle = open_regular(target, top)
    if handle is None:
        return None
    with handle:
        return handle.read(MAX_FILE_BYTES + 1)


def _replace(content: str, edit: Edit, index: int) -> tuple[str, int]:
    if not edit.regex:
        return content.replace(edit.find, edit.replace), content.count(edit.find)
    try:
        pattern = re.compile(edit.find, re.MULTILINE)
        return pattern.subn(edit.replace, content)
    except (re.error, IndexError) as exc:
        raise InvalidArgument(f"edits[{index}]: bad regex or replacement: {exc}") from None


def _atomic_write(target: Path, data: bytes) -> None:
    """Replace target's content through a temporary file in its folder, keeping its permission bits."""
    mode = stat.S_IMODE(target.stat().st_mode)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".edit", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def _shown(path: Path, top: Path) -> str:
    return printable_path(path.relative_to(top).as_posix()) if path != top else "."
