"""Run git non-interactively with a fixed farm identity, raising GitOperationError on failure."""

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from farm_core.git_errors import (
    GIT_FAILED,
    GIT_MISSING,
    GIT_TIMEOUT,
    INVALID_JOB_ID,
    NOT_A_REPO,
    GitOperationError,
)

FARM_NAME = "codex-farm"
FARM_EMAIL = "codex-farm@localhost"

# Config that would make git run a program of the repo's choosing. Pinned off on every invocation
# (command-line config wins over every config file), so a tampered repo, worktree or `.git` file
# cannot make the farm's own git run anything.
NO_EXEC_CONFIG = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
)
# Per-invocation config that keeps git from paging, colouring, signing or prompting,
# whatever the user's or machine's config says.
SAFE_CONFIG = (
    "-c",
    "core.pager=cat",
    "-c",
    "color.ui=false",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "tag.gpgSign=false",
    "-c",
    "advice.detachedHead=false",
    "-c",
    f"user.name={FARM_NAME}",
    "-c",
    f"user.email={FARM_EMAIL}",
    *(part for key, value in NO_EXEC_CONFIG for part in ("-c", f"{key}={value}")),
)

SAFE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_EDITOR": "true",
    "GIT_AUTHOR_NAME": FARM_NAME,
    "GIT_AUTHOR_EMAIL": FARM_EMAIL,
    "GIT_COMMITTER_NAME": FARM_NAME,
    "GIT_COMMITTER_EMAIL": FARM_EMAIL,
}

# The only variables of ours git sees: what finding programs, the user's git config, credentials and
# proxies need. Nothing else (REDIS_URL, tokens, keys) reaches git or what it runs, and no inherited
# repo redirection (GIT_DIR, GIT_INDEX_FILE…): only `cwd` and explicit `env` decide the repo.
GIT_PASSED_THROUGH = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "SSH_AUTH_SOCK",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
)

# Job ids become directory names and ref components, so keep them boring.
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class OwnedGit:
    """A work tree seen through a git dir (and index) of the farm's own, never through its `.git`.

    Git then reads no `.git` file, no system, user or repo config but the farm's, and reaches no
    remote, so nothing an agent wrote in the tree, its admin dir or its home can steer it."""

    work_tree: Path
    git_dir: Path

    @property
    def index(self) -> Path:
        return self.git_dir / "index"

    def env(self) -> dict[str, str]:
        """The variables that pin git to this git dir, index and config."""
        return {
            "GIT_DIR": str(self.git_dir),
            "GIT_WORK_TREE": str(self.work_tree),
            "GIT_INDEX_FILE": str(self.index),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "HOME": str(self.git_dir),
            "XDG_CONFIG_HOME": str(self.git_dir),
        }


# What owned git adds to SAFE_CONFIG: no transport at all (a `.gitmodules` URL, a pushurl).
OWNED_CONFIG = ("-c", "protocol.allow=never")
# Where git runs: a trusted checkout (cwd is the repo), or an agent's work tree through an OwnedGit.
GitRepo = Path | OwnedGit


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment git runs with: the few variables it needs of ours, safe defaults and `extra`."""
    env = {key: os.environ[key] for key in GIT_PASSED_THROUGH if key in os.environ}
    env.update(SAFE_ENV)
    env.update(extra or {})
    return env


def no_exec_config_env() -> dict[str, str]:
    """NO_EXEC_CONFIG as variables, for processes that may run git themselves (checks): `git config` env
    form."""
    env = {"GIT_CONFIG_COUNT": str(len(NO_EXEC_CONFIG))}
    for number, (key, value) in enumerate(NO_EXEC_CONFIG):
        env.update({f"GIT_CONFIG_KEY_{number}": key, f"GIT_CONFIG_VALUE_{number}": value})
    return env


def run_git(
    repo: GitRepo,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
    code: str = GIT_FAILED,
) -> bytes:
    """Run `git <args>` in repo and return stdout bytes; raise GitOperationError(code) on failure."""
    if isinstance(repo, OwnedGit):
        command = ["git", *SAFE_CONFIG, *OWNED_CONFIG, *args]
        cwd, env = repo.work_tree, {**repo.env(), **(env or {})}
    else:
        command, cwd = ["git", *SAFE_CONFIG, *args], repo
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=git_env(env),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except FileNotFoundError as error:
        if not Path(cwd).is_dir():
            raise GitOperationError(f"not a directory: {cwd}", code=NOT_A_REPO) from error
        raise GitOperationError("git executable not found", code=GIT_MISSING) from error
    except subprocess.TimeoutExpired as error:
        raise GitOperationError(
            f"git {_verb(args)} timed out after {timeout}s", code=GIT_TIMEOUT, stderr=error.stderr or b""
        ) from error
    if completed.returncode != 0:
        raise GitOperationError(
            f"git {_verb(args)} failed (exit {completed.returncode}): {_last_line(completed.stderr)}",
            code=code,
            stderr=completed.stderr,
        )
    return completed.stdout


def run_git_text(
    repo: GitRepo,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    code: str = GIT_FAILED,
) -> str:
    """Like run_git, decoded as UTF-8 with the trailing newline stripped (for shas, paths, flags)."""
    stdout = run_git(repo, *args, env=env, input=input, code=code)
    return stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def git_succeeds(repo: GitRepo, *args: str, env: Mapping[str, str] | None = None) -> bool:
    """True when `git <args>` exits 0 (for probes like `cat-file -e` or `rev-parse --verify`)."""
    try:
        run_git(repo, *args, env=env)
    except GitOperationError:
        return False
    return True


def require_work_tree(path: Path) -> Path:
    """The top level of the working tree containing path; GitOperationError `not_a_repo` otherwise."""
    try:
        inside, _, top = run_git_text(
            path, "rev-parse", "--is-inside-work-tree", "--show-toplevel", code=NOT_A_REPO
        ).partition("\n")
    except GitOperationError as error:
        if "must be run in a work tree" not in error.stderr:
            raise
        inside, top = "false", ""  # inside a .git folder or a bare repo
    if inside != "true" or not top:
        raise GitOperationError(f"not inside a git working tree: {path}", code=NOT_A_REPO)
    return Path(top)


def head_commit(repo: GitRepo) -> str | None:
    """The commit HEAD points to, or None in a repo without commits."""
    try:
        return run_git_text(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except GitOperationError:
        return None


def require_job_id(job_id: str) -> str:
    """job_id unchanged if it is safe as a directory name and ref component; else `invalid_job_id`."""
    if not JOB_ID_PATTERN.match(job_id) or ".." in job_id or job_id.endswith((".", ".lock")):
        raise GitOperationError(
            f"job id not usable as a git ref or directory name: {job_id!r}", code=INVALID_JOB_ID
        )
    return job_id


@contextmanager
def temporary_index(worktree: GitRepo) -> Iterator[dict[str, str]]:
    """Yield env that points git at a throwaway copy of the worktree's index, deleted afterwards."""
    # Copying (rather than rebuilding) keeps stat data, so `git add -A` rehashes only changed files,
    # and keeps skip-worktree bits, so sparse checkouts do not read as mass deletions.
    index = index_path(worktree)
    with tempfile.TemporaryDirectory(prefix="codex-farm-index-") as scratch:
        scratch_index = Path(scratch) / "index"
        env = {"GIT_INDEX_FILE": str(scratch_index)}
        if index.is_file():
            shutil.copyfile(index, scratch_index)
        elif head_commit(worktree) is not None:
            run_git(worktree, "read-tree", "HEAD", env=env)
        yield env


def index_path(worktree: GitRepo) -> Path:
    """Where the index of the working tree whose top level is `worktree` lives."""
    if isinstance(worktree, OwnedGit):
        return worktree.index
    # Read from `.git` (a folder, or in a linked worktree a `gitdir:` file) to spare a git process
    # on every job; anything unusual is left to `git rev-parse --git-path`.
    dot_git = worktree / ".git"
    if dot_git.is_dir():
        return dot_git / "index"
    linked = linked_git_dir(worktree)
    if linked is not None:
        return linked / "index"
    return worktree / run_git_text(worktree, "rev-parse", "--git-path", "index")


def linked_git_dir(worktree: Path) -> Path | None:
    """A linked worktree's own git dir (`gitdir:` in its `.git` file); None when `.git` is not such a file."""
    try:
        text = (worktree / ".git").read_text(errors="surrogateescape")
    except OSError:  # a directory (not a linked worktree) or missing
        return None
    if not text.startswith("gitdir:") or "\n" in text.strip():
        return None
    admin = Path(text.removeprefix("gitdir:").strip())
    return (admin if admin.is_absolute() else worktree / admin).resolve()


def stage_working_tree(worktree: GitRepo, env: Mapping[str, str] | None = None) -> str:
    """Stage every file as it is on disk (untracked too, ignored not) and return the tree id."""
    run_git(worktree, "-c", "advice.addEmbeddedRepo=false", "add", "-A", "--", ":/", env=env)
    return run_git_text(worktree, "write-tree", env=env)


def _verb(args: tuple[str, ...]) -> str:
    """The git subcommand among args, skipping `-c key=value` pairs."""
    words = iter(args)
    for word in words:
        if word == "-c":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return " ".join(args)


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no error output"
