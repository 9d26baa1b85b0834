"""draft: one cheap model call writing a commit message, PR description or changelog entry from a diff."""

import os
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from farm_core.git_cli import run_git
from farm_core.git_errors import GitOperationError
from farm_core.patch_text import trim_diff
from mcp_frontend.cheap.artifacts import job_diff
from mcp_frontend.cheap.model_call import LiteUsage, call_model, check_model_name
from mcp_frontend.cheap.sources import FILE_MAX_BYTES
from mcp_frontend.errors import InvalidArgument, SnapshotFailed
from mcp_frontend.repo_paths import open_regular, printable_path, resolve_repo
from mcp_frontend.service_protocols import CheapService

DraftKind = Literal["commit", "pr", "changelog"]
DRAFT_DIFF_MAX_BYTES = 60_000
MAX_UNTRACKED = 50
INSTRUCTIONS_MAX_CHARS = 2000
DRAFT_MAX_TOKENS = 1200
DRAFT_MAX_CHARS = 8000
GIT_TIMEOUT_S = 30
# Read-only git: no index refresh, no lock files (the repo stays byte-identical).
READ_ONLY_GIT = {"GIT_OPTIONAL_LOCKS": "0"}
KIND_ASKS = {
    "commit": "Write a git commit message for this change: a subject line of at most 72 characters in the "
    "imperative mood, a blank line, then a short body explaining what changed and "
    "why. Output only the message.",
    "pr": "Write a pull request description for this change in Markdown: a title line, a Summary section, a "
    "Changes list and a Testing section. Output only the description.",
    "changelog": "Write a changelog entry for this change in Keep a Changelog style: bullet points under "
    "Added, Changed, Fixed or Removed (only those that apply), user-facing wording. Output only the entry.",
}
SYSTEM = (
    "You write concise, accurate text about code changes from their diff. Never "
    "invent changes the diff does not show."
)


class DraftResult(BaseModel):
    """The drafted text, capped."""

    kind: DraftKind
    text: str
    source: str = Field(description="`job <id>` or `repo <path>` (git diff HEAD plus untracked files).")
    truncated: list[str] = Field(
        default_factory=list, description="What was cut (diff, untracked files, the text); empty: nothing."
    )
    usage: LiteUsage


async def draft(
    service: CheapService,
    kind: DraftKind,
    job_id: str | None,
    repo: str | None,
    instructions: str | None,
    model: str | None,
) -> DraftResult:
    if (job_id is None) == (repo is None):
        raise InvalidArgument("give either job_id or repo")
    if instructions is not None and len(instructions) > INSTRUCTIONS_MAX_CHARS:
        raise InvalidArgument(f"instructions are longer than {INSTRUCTIONS_MAX_CHARS} characters")
    check_model_name(model)
    notes: list[str] = []
    context = ""
    if job_id is not None:
        record, diff, cut = await anyio.to_thread.run_sync(job_diff, service, job_id, DRAFT_DIFF_MAX_BYTES)
        context = (
            f"The change was made for this request:\n{(record.spec.prompt if record.spec else '')[:4000]}\n\n"
        )
        source = f"job {job_id}"
    else:
        path = resolve_repo(repo, service.frontend.sandbox_root)
        diff, cut, untracked_notes = await anyio.to_thread.run_sync(repo_diff, path)
        notes += untracked_notes
        diff = service.redact(diff)
        source = f"repo {repo}"
    if cut:
        notes.append(f"diff: first {DRAFT_DIFF_MAX_BYTES} bytes")
    extra = f"\nAlso: {instructions}\n" if instructions and instructions.strip() else ""
    prompt = f"{KIND_ASKS[kind]}\n{extra}\n{context}Diff:\n{diff}"
    reply = await call_model(service, SYSTEM, prompt, model, DRAFT_MAX_TOKENS)
    text = reply.text.strip()
    if reply.truncated or len(text) > DRAFT_MAX_CHARS:
        notes.append("text: cut at the output cap")
    return DraftResult(
        kind=kind, text=text[:DRAFT_MAX_CHARS], source=source, truncated=notes, usage=reply.usage
    )


def repo_diff(repo: Path) -> tuple[str, bool, list[str]]:
    """`git diff HEAD` plus untracked files as new-file diffs, trimmed; read-only. (text, cut, notes)"""
    try:
        base = _head_or_empty_tree(repo)
        tracked = _git(repo, "diff", "--no-color", "--no-ext-diff", base, "--")
        listed = _git(repo, "ls-files", "--others", "--exclude-standard", "-z")
    except GitOperationError as exc:
        raise SnapshotFailed(f"could not read the repo's changes: {exc}") from None
    untracked = [os.fsdecode(p) for p in listed.split(b"\0") if p]
    notes: list[str] = []
    if len(untracked) > MAX_UNTRACKED:
        notes.append(f"{len(untracked) - MAX_UNTRACKED} untracked files left out")
    pieces = [tracked]
    for name in untracked[:MAX_UNTRACKED]:
        pieces.append(_new_file_diff(repo, name, notes))
    patch = b"".join(pieces)
    if not patch.strip():
        raise InvalidArgument(
            "the repo has no changes against HEAD and no untracked files; nothing to draft from"
        )
    return trim_diff(patch, DRAFT_DIFF_MAX_BYTES), len(patch) > DRAFT_DIFF_MAX_BYTES, notes


def _git(repo: Path, *args: str) -> bytes:
    return run_git(repo, *args, env=READ_ONLY_GIT, timeout=GIT_TIMEOUT_S)


def _head_or_empty_tree(repo: Path) -> str:
    try:
        return _git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}").decode().strip()
    except GitOperationError:  # no commit yet: everything is new
        return _git(repo, "hash-object", "-t", "tree", "/dev/null").decode().strip()


def _new_file_diff(repo: Path, name: str, notes: list[str]) -> bytes:
    path = repo / name
    # The name's own bytes, as git writes them (it may not be UTF-8).
    header = f"diff --git a/{name} b/{name}\nnew file (untracked)\n--- /dev/null\n+++ b/{name}\n".encode(
        "utf-8", "surrogateescape"
    )
    # through no link, never a FIFO or device, even one swapped in meanwhile
    handle = open_regular(path, repo)
    if handle is None:
        return header
    try:
        with handle:
            data = handle.read(FILE_MAX_BYTES + 1)
    except OSError:
        return header
    if b"\x00" in data[:8192]:
        return header + b"Binary file\n"
    if len(data) > FILE_MAX_BYTES:
        data = data[:FILE_MAX_BYTES]
        notes.append(f"{printable_path(name)}: first {FILE_MAX_BYTES} bytes")
    lines = data.decode("utf-8", "replace").splitlines()
    return header + "".join(f"+{line}\n" for line in lines).encode()
