"""diff_digest: what a diff touches, file by file, with sizes and risk flags, never the diff itself."""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from farm_core.git_cli import head_commit
from farm_core.git_errors import GitOperationError
from mcp_frontend.errors import GitQueryFailed, InvalidArgument, JobNotFinished, PatchUnavailable
from mcp_frontend.readonly.files import BINARY_PROBE_BYTES, git, sandbox_root
from mcp_frontend.repo_paths import entry_kind, link_target, open_regular, printable_path, resolve_repo
from mcp_frontend.service_protocols import ReadonlyService

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
SYMLINK_MODE = "120000"  # git's mode for a symlink: its blob is the target text
MAX_FILES = 200
MAX_HUNKS_PER_FILE = 20
LARGE_CHANGE_LINES = 300

CI = re.compile(
    r"(^|/)(\.github/workflows/|\.gitlab-ci\.yml$|\.circleci/|Jenkinsfile$|\.travis\.yml$|azure-pipelines\.ya?ml$|"
    r"\.ci/|\.buildkite/|bitbucket-pipelines\.yml$)"
)
LOCKFILE = re.compile(
    r"(^|/)(package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|poetry\.lock|Pipfile\.lock|uv\.lock|"
    r"Cargo\.lock|go\.sum|composer\.lock|Gemfile\.lock|[^/]*\.lock|requirements[^/]*\.txt)$"
)
MIGRATION = re.compile(r"(^|/)(migrations?|migrate|alembic/versions|db/migrate)/|\.sql$")
SECRET_LIKE = re.compile(
    r"(^|/)(\.env(\.[^/]*)?|\.npmrc|\.pypirc|\.netrc|id_(rsa|dsa|ecdsa|ed25519)[^/]*|[^/]*\.(pem|key|p12|pfx|jks|keystore)|"
    r"[^/]*(secret|credential|password|token)[^/]*)$",
    re.IGNORECASE,
)
CONFIG = re.compile(
    r"(^|/)(Dockerfile[^/]*|docker-compose[^/]*|Makefile|pyproject\.toml|setup\.(py|cfg)|package\.json|tsconfig[^/]*\.json|"
    r"go\.mod|Cargo\.toml|\.pre-commit-config\.yaml|\.gitignore|\.gitattributes|\.dockerignore|[^/]*\.(toml|ini|cfg|conf|ya?ml))$"
)

DESCRIPTION = (
    "Digest of a diff without the diff, no model involved: for a finished job (job_id) its "
    "stored patch, or for repo the working tree against HEAD (untracked files count as added). "
    "Per file: status, added/deleted lines, hunk headers and risk flags (large, deletes_file, "
    "binary, mode_change, symlink, ci, config, lockfile, migration, secret_like). A symlink is "
    "shown with its target text (link), never followed; FIFOs, sockets and devices are skipped."
)


class FileDigest(BaseModel):
    path: str
    old_path: str | None = Field(None, description="Former path of a renamed or copied file.")
    status: str = Field(description="added, deleted, modified, renamed or copied.")
    added: int = Field(description="Lines added (0 for binary files).")
    deleted: int = Field(description="Lines deleted (0 for binary files).")
    binary: bool = False
    link: str | None = Field(None, description="For a symlink: its target text (the link is never followed).")
    hunks: list[str] = Field(
        default_factory=list, description=f"Hunk headers '@@ -a,b +c,d @@ ...', at most {MAX_HUNKS_PER_FILE}."
    )
    more_hunks: int = Field(0, description="Hunks left out of hunks.")
    flags: list[str] = Field(
        default_factory=list, description="Why this file deserves a close look; empty when none."
    )


class DiffDigest(BaseModel):
    source: str = Field(description="'job <id>' or 'worktree of <repo> against HEAD'.")
    files: list[FileDigest] = Field(description=f"Changed files, sorted by path, at most {MAX_FILES}.")
    total_files: int
    added: int
    deleted: int
    risky: bool = Field(description="Some file has a risk flag.")
    flags: list[str] = Field(description="Every risk flag seen, sorted.")
    truncated: bool = Field(description=f"More than {MAX_FILES} files changed; totals still count them all.")


@dataclass
class _File:
    path: str
    old_path: str | None = None
    status: str = "modified"
    added: int = 0
    deleted: int = 0
    binary: bool = False
    mode_change: bool = False
    is_link: bool = False
    link: str | None = None
    hunks: list[str] = field(default_factory=list)


def digest_job(service: ReadonlyService, job_id: str) -> DiffDigest:
    record = service.record(job_id)  # unknown_job
    if not record.status.terminal:
        raise JobNotFinished(f"job {job_id} is {record.status.value}; its patch is stored when it ends")
    patch = service.store.load_patch(job_id)
    if patch is None:
        if record.result and record.result.changed_files:
            raise PatchUnavailable(f"the patch of job {job_id} is no longer stored")
        patch = b""
    return _digest(f"job {job_id}", parse_patch(patch))


def digest_repo(root: Path, repo: str) -> DiffDigest:
    top = resolve_repo(repo, root)
    base = head_commit(top) or EMPTY_TREE
    try:
        patch = git(
            top, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames", "-U0", base, "--"
        )
        untracked = git(top, "ls-files", "-o", "--exclude-standard", "-z")
    except GitOperationError as exc:
        raise GitQueryFailed(f"git diff failed in {repo!r}: {exc.message}") from None
    files = parse_patch(patch)
    for raw in untracked.split(b"\0"):
        if raw and not raw.endswith(b"/") and (entry := _untracked(top, os.fsdecode(raw))) is not None:
            files.append(entry)
    label = top.relative_to(root).as_posix() if top != root else "."
    return _digest(f"worktree of {label} against HEAD", files)


def parse_patch(patch: bytes) -> list[_File]:
    """Per-file facts from a git patch (`diff --git` headers; binary patches and any context size)."""
    files: list[_File] = []
    current: _File | None = None
    in_hunk = False
    for raw in patch.split(b"\n"):
        line = raw.decode("utf-8", "replace")
        if line.startswith("diff --git "):
            current = _File(path=_header_path(line))
            files.append(current)
            in_hunk = False
        elif current is None:
            continue
        elif line.startswith("@@"):
            in_hunk = True
            current.hunks.append(line[:200])
        elif in_hunk and line.startswith("+"):
            current.added += 1
            _link_text(current, line)
        elif in_hunk and line.startswith("-"):
            current.deleted += 1
            _link_text(current, line)
        elif in_hunk and (line.startswith(" ") or line.startswith("\\")):
            continue
        else:
            in_hunk = False
            _header(current, line)
    return files


def _link_text(current: _File, line: str) -> None:
    """A symlink's one content line is its target: the new one, or the old one of a deleted link."""
    if current.is_link and (line.startswith("+") or current.link is None):
        current.link = line[1:][:500]


def _header(current: _File, line: str) -> None:
    if line.startswith(("new file mode", "deleted file mode", "new mode", "index ")) and line.endswith(
        SYMLINK_MODE
    ):
        current.is_link = True
    if line.startswith("new file mode"):
        current.status = "added"
    elif line.startswith("deleted file mode"):
        current.status = "deleted"
    elif line.startswith(("rename from ", "copy from ")):
        current.old_path = _unquote(line.split(" ", 2)[2])
        current.status = "renamed" if line.startswith("rename") else "copied"
    elif line.startswith(("rename to ", "copy to ")):
        current.path = _unquote(line.split(" ", 2)[2])
    elif line.startswith("old mode"):
        current.mode_change = True
    elif line.startswith("+++ ") and line[4:] != "/dev/null":
        current.path = _unquote(line[4:])[2:] if _unquote(line[4:]).startswith("b/") else _unquote(line[4:])
    elif line.startswith("--- ") and line[4:] != "/dev/null" and current.status == "deleted":
        current.path = _unquote(line[4:])[2:]
    elif line.startswith(("GIT binary patch", "Binary files ")):
        current.binary = True


def _header_path(line: str) -> str:
    """The b/ path of `diff --git a/x b/x` (exact for unquoted, equal names; +++ and rename lines refine
    it)."""
    rest = line[len("diff --git ") :]
    if rest.startswith('"'):
        return _unquote('"' + rest.rsplit(' "b/', 1)[1]) if ' "b/' in rest else rest
    half = (len(rest) - 1) // 2
    return rest[half + 1 :][2:] if rest[half + 1 :].startswith("b/") else rest


def _unquote(text: str) -> str:
    """A path as git prints it, C-quoted when it has unusual characters."""
    text = text.rstrip("\t")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        body = text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return body.encode("latin-1", "replace").decode("utf-8", "replace")
    return text


def _untracked(top: Path, relative: str) -> _File | None:
    """An untracked entry as git would add it: a file by its lines, a symlink by its target text; None for
    the rest."""
    path = top / relative
    entry = _File(path=printable_path(relative), status="added")
    kind = entry_kind(path)
    if kind == "link":  # never followed: outside the repo it would tell about files the caller cannot read
        entry.is_link, entry.link, entry.added = True, link_target(path), 1
    elif kind == "file":
        entry.added = _line_count(path, top, entry)
    else:
        return None  # a FIFO, socket or device is never opened (opening a FIFO blocks)
    if entry.added:
        entry.hunks.append(f"@@ -0,0 +1,{entry.added} @@ (untracked)")
    return entry


def _line_count(path: Path, top: Path, entry: _File) -> int:
    """Lines of a regular file as git counts them (a last line without newline counts); marks binary files."""
    handle = open_regular(path, top)
    if handle is None:
        return 0
    with handle:
        try:
            head = handle.read(BINARY_PROBE_BYTES)
            if b"\0" in head:
                entry.binary = True
                return 0
            lines, last = head.count(b"\n"), head[-1:]
            while chunk := handle.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        except OSError:
            return 0
    return lines + (1 if last and last != b"\n" else 0)


def _flags(entry: _File) -> list[str]:
    path = entry.path
    found = []
    if entry.added + entry.deleted >= LARGE_CHANGE_LINES:
        found.append("large")
    if entry.status == "deleted":
        found.append("deletes_file")
    if entry.binary:
        found.append("binary")
    if entry.mode_change:
        found.append("mode_change")
    if entry.is_link:
        found.append("symlink")
    paths = [path] + ([entry.old_path] if entry.old_path else [])
    for flag, pattern in (
        ("ci", CI),
        ("lockfile", LOCKFILE),
        ("migration", MIGRATION),
        ("secret_like", SECRET_LIKE),
    ):
        if any(pattern.search(p) for p in paths):
            found.append(flag)
    if "ci" not in found and "lockfile" not in found and any(CONFIG.search(p) for p in paths):
        found.append("config")
    return found


def _digest(source: str, files: list[_File]) -> DiffDigest:
    files = sorted(files, key=lambda f: f.path)
    entries = []
    for entry in files[:MAX_FILES]:
        entries.append(
            FileDigest(
                path=entry.path,
                old_path=entry.old_path,
                status=entry.status,
                added=entry.added,
                deleted=entry.deleted,
                binary=entry.binary,
                link=entry.link if entry.is_link else None,
                hunks=entry.hunks[:MAX_HUNKS_PER_FILE],
                more_hunks=max(0, len(entry.hunks) - MAX_HUNKS_PER_FILE),
                flags=_flags(entry),
            )
        )
    every_flag = sorted({flag for entry in files for flag in _flags(entry)})
    return DiffDigest(
        source=source,
        files=entries,
        total_files=len(files),
        added=sum(f.added for f in files),
        deleted=sum(f.deleted for f in files),
        risky=bool(every_flag),
        flags=every_flag,
        truncated=len(files) > MAX_FILES,
    )


def diff_digest(service: ReadonlyService, job_id: str | None, repo: str | None) -> DiffDigest:
    if (job_id is None) == (repo is None):
        raise InvalidArgument("give exactly one of job_id and repo")
    if job_id is not None:
        return digest_job(service, job_id)
    return digest_repo(sandbox_root(service), repo)
