"""Workers on other machines: a second worker that cannot read the caller's files gets the snapshot anyway.

"Another machine" is a worker running as another Unix user (with its own cache, HOME and git config)
that cannot read the caller's sandbox; the interpreter is shown to it through a bind mount in a
private mount namespace, since it may live in root's home. Without users, the worker runs as root
in a mount namespace where the sandbox is an empty tmpfs. It consumes a queue of its own.
"""

import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.farm import Farm, connect_mcp, stop_worker
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.fixtures.transport_repos import MANIFEST_COMMAND, clone_with_local_work, make_origin, manifest

WORKER_USER = "codexfarm-remote"
MANIFEST_MARK = "tree| "


@dataclass
class RemoteWorker:
    """The second worker: its queue, its scratch space outside the caller's sandbox, its log."""

    queue: str
    shared: Path  # world-readable scratch (origin and remotes live here)
    log: Path
    isolation: str

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def _ensure_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(WORKER_USER)
    except KeyError:
        pass
    created = _run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            WORKER_USER,
        ]
    )
    if created.returncode != 0:
        return None
    return pwd.getpwnam(WORKER_USER)


def _wait_ready(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "ready." in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError("exited:\n" + log.read_text(errors="replace"))
        time.sleep(0.1)
    stop_worker(process)
    raise RuntimeError("not ready:\n" + log.read_text(errors="replace"))


def _launch(script: str, script_args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`sh -c script` in a private mount namespace (so its mounts vanish with it), in its own session."""
    args = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, *script_args]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            args, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    _wait_ready(process, log)
    return process


WORKER_ARGS = "-m codex_farm worker --concurrency 2 --loglevel INFO"
# As another user: show it the interpreter through a bind mount, then drop to that user.
# (LD_LIBRARY_PATH: the interpreter's RUNPATH to libpython may be under root's home as well.)
AS_USER = (
    'mount --bind "$0" "$1" && LD_LIBRARY_PATH="$1/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"'
    ' exec setpriv --reuid="$2" --regid="$3" --clear-groups -- "$1/$4" ' + WORKER_ARGS
)
# As root: hide the caller's sandbox behind an empty tmpfs.
HIDDEN_SANDBOX = 'mount -t tmpfs -o size=1m codex-farm-hidden "$0" && exec "$1" ' + WORKER_ARGS


@pytest.fixture(scope="module")
def remote_worker(farm: Farm) -> Iterator[RemoteWorker]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the second worker runs as another user or in a mount namespace")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for the second worker's mount namespace")
    shared = Path(tempfile.mkdtemp(prefix="codex-farm-remote-", dir="/tmp"))
    shared.chmod(0o755)
    cache, home, view = shared / "cache", shared / "home", shared / "python"
    for folder in (cache, home, view):
        folder.mkdir(mode=0o755)
    # The worker's own git config: trust the test's local origin and remote (owned by root).
    (home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")
    queue = "remote-" + secrets.token_hex(3)
    env = {**os.environ, **farm.env, "FARM_QUEUE": queue, "WORKER_CACHE_DIR": str(cache), "HOME": str(home)}
    farm.sandbox.chmod(0o700)
    log = farm.log_dir / "remote-worker.log"
    process, isolation, refused = None, "", []
    user = _ensure_user()
    executable = Path(sys.executable)
    if user is None:
        refused.append(f"useradd {WORKER_USER} failed")
    elif sys.prefix != sys.base_prefix or not executable.is_relative_to(sys.prefix):
        refused.append("the interpreter is in a virtualenv; cannot show it to another user by one bind mount")
    else:
        for folder in (cache, home):
            os.chown(folder, user.pw_uid, user.pw_gid)
        os.chown(home / ".gitconfig", user.pw_uid, user.pw_gid)
        env.update(USER=WORKER_USER, LOGNAME=WORKER_USER)
        relative = str(executable.relative_to(sys.prefix))
        try:
            process = _launch(
                AS_USER, [sys.prefix, str(view), str(user.pw_uid), str(user.pw_gid), relative], env, log
            )
            isolation = f"user {WORKER_USER}"
        except RuntimeError as exc:
            refused.append(f"worker as {WORKER_USER}: {str(exc)[-600:]}")
    if process is None:
        env = {**env, "USER": "root", "LOGNAME": "root"}
        try:
            process = _launch(HIDDEN_SANDBOX, [str(farm.sandbox), sys.executable], env, log)
            isolation = "mount namespace"
        except RuntimeError as exc:
            refused.append(f"worker in a mount namespace: {str(exc)[-600:]}")
    if process is None:
        shutil.rmtree(shared, ignore_errors=True)
        pytest.skip("cannot run a worker that is unable to read the caller's files: " + "; ".join(refused))
    yield RemoteWorker(queue=queue, shared=shared, log=log, isolation=isolation)
    stop_worker(process)
    shutil.rmtree(shared, ignore_errors=True)


def tree_check(expected_manifest: str) -> dict:
    """A check that prints the worktree's manifest and passes only if it hashes like the caller's tree."""
    digest = hashlib.sha256(expected_manifest.encode()).hexdigest()
    command = (
        f"m=$({MANIFEST_COMMAND}); printf '%s\\n' \"$m\" | sed 's/^/{MANIFEST_MARK}/';"
        f" test \"$(printf '%s\\n' \"$m\" | sha256sum | cut -d' ' -f1)\" = {digest}"
    )
    return {"name": "tree", "command": command, "timeout_ms": 30000}


def printed_manifest(tail_lines: list[str]) -> str:
    marker = f"check: {MANIFEST_MARK}"
    return "".join(line.split(marker, 1)[1] + "\n" for line in tail_lines if marker in line)


def read_scenario(name: str, expect: list[str]) -> dict:
    """The agent reads the untracked and the edited file; the next turn fails unless they hold `expect`."""
    reads = [
        {"name": "Read", "arguments": {"file_path": f"{{cwd}}/{rel}"}} for rel in ("notes.txt", "README.md")
    ]
    return {"name": name, "turns": [{"tool_calls": reads}, {"expect": expect, "text": "Both files read."}]}


async def run_job(
    client, repo: Path, scenario: str, queue: str, checks: list[dict]
) -> tuple[dict, dict, list[str]]:
    started = await call_ok(
        client,
        "start",
        {
            "prompt": f"Read the notes. [[scenario:{scenario}]]",
            "repo": str(repo),
            "queue": queue,
            "checks": checks,
        },
    )
    job_id = started["job_id"]
    done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 100000})
    full = await call_ok(client, "get", {"job_id": job_id, "verbose": True})
    tail = await call_ok(client, "tail", {"job_id": job_id, "lines": 500})
    return done, full["record"], tail["lines"]


def whole_bundle_bytes(repo: Path, ref: str) -> int:
    return len(
        subprocess.run(
            ["git", "bundle", "create", "-q", "-", ref], cwd=repo, check=True, capture_output=True
        ).stdout
    )


async def test_bundle_delta_reproduces_the_callers_tree_on_a_worker_that_cannot_read_it(
    farm: Farm, remote_worker: RemoteWorker, scripted_gateway
) -> None:
    origin = make_origin(remote_worker.shared, "app-origin.git", history_commits=8, blob_bytes=64_000)
    _run(["chmod", "-R", "a+rX", str(origin)], check=True)
    repo = clone_with_local_work(origin, farm.sandbox / "app")
    repo.chmod(0o700)
    expected = manifest(repo)
    before = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"))
    scripted_gateway.add_scenario(read_scenario("remote_bundle", ["untracked notes", "uncommitted edit"]))

    async with connect_mcp(farm, FARM_SHARED_FS="0") as client:  # auto: workers may be anywhere → bundle
        done, record, tail = await run_job(
            client, repo, "remote_bundle", remote_worker.queue, [tree_check(expected)]
        )

    assert done["job_status"] == "completed", (done, remote_worker.log_text()[-3000:])
    assert done["checks"] == ["tree: passed"], tail
    assert printed_manifest(tail) == expected  # byte for byte: every file, its content and exec bit
    assert "notes.txt" in expected and "tool.sh" in expected
    source = record["spec"]["source"]
    assert source["transport"] == "bundle" and source["origin_url"] == str(origin)
    delta = source["bundle_bytes"]
    whole = whole_bundle_bytes(repo, source["snapshot_ref"])
    print(
        f"bundle: {delta} bytes (the whole history would be {whole} bytes); worker isolated by "
        f"{remote_worker.isolation}"
    )
    assert delta < 20_000 < 400_000 < whole
    assert (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD")) == before


async def test_repo_without_origin_ships_a_whole_bundle_and_the_cap_holds(
    farm: Farm, remote_worker: RemoteWorker, scripted_gateway, make_repo
) -> None:
    repo = make_repo({"README.md": "# solo\n", "data.bin": os.urandom(4000).hex()}, parent=farm.sandbox)
    (repo / "README.md").write_text("# solo\nuncommitted edit\n")
    (repo / "notes.txt").write_text("untracked notes\n")
    expected = manifest(repo)
    scripted_gateway.add_scenario(read_scenario("remote_whole", ["untracked notes", "uncommitted edit"]))

    async with connect_mcp(farm, FARM_TRANSPORT="bundle") as client:
        done, record, tail = await run_job(
            client, repo, "remote_whole", remote_worker.queue, [tree_check(expected)]
        )
    assert done["job_status"] == "completed", (done, remote_worker.log_text()[-3000:])
    assert done["checks"] == ["tree: passed"]
    assert printed_manifest(tail) == expected
    source = record["spec"]["source"]
    assert (
        source["origin_url"] is None
        and source["repo_id"] == git(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    )
    print(f"bundle: {source['bundle_bytes']} bytes (no origin: the whole history)")

    # list_jobs is in review
    async with connect_mcp(
        farm, FARM_TRANSPORT="bundle", FARM_BUNDLE_MAX_BYTES="1000", FARM_TOOLS="core,review"
    ) as client:
        jobs_before = await call_ok(client, "list_jobs", {"limit": 500})
        error = await call_error(
            client,
            "start",
            {"prompt": "too big [[scenario:remote_whole]]", "repo": str(repo), "queue": remote_worker.queue},
        )
        jobs_after = await call_ok(client, "list_jobs", {"limit": 500})

    assert error["code"] == "bundle_too_large"
    assert "FARM_BUNDLE_MAX_BYTES" in error["message"] and "FARM_GIT_REMOTE" in error["message"]
    assert int(error["message"].split("bundle is ")[1].split(" bytes")[0]) > 1000
    assert "FARM_GIT_REMOTE" in error["hint"]
    assert jobs_after == jobs_before  # nothing enqueued


async def test_remote_transport_round_trip_through_a_git_remote(
    farm: Farm, remote_worker: RemoteWorker, scripted_gateway, make_repo
) -> None:
    remote = remote_worker.shared / "scratch.git"
    _run(["git", "init", "-q", "--bare", "--shared=0666", str(remote)], check=True)
    repo = make_repo({"README.md": "# r\n"}, parent=farm.sandbox)
    (repo / "README.md").write_text("# r\nuncommitted edit\n")
    (repo / "notes.txt").write_text("untracked notes\n")
    reads, final = read_scenario("remote_push", [])["turns"]
    write = {"name": "Write", "arguments": {"file_path": "{cwd}/result.txt", "content": "done\n"}}
    turns = [reads, {"expect": ["untracked notes", "uncommitted edit"], "tool_calls": [write]}, final]
    scripted_gateway.add_scenario({"name": "remote_push", "turns": turns})

    async with connect_mcp(farm, FARM_GIT_REMOTE=str(remote)) as client:  # auto → remote
        done, record, tail = await run_job(client, repo, "remote_push", remote_worker.queue, [])

    assert done["job_status"] == "completed", (done, remote_worker.log_text()[-3000:])
    assert done["changed_files"] == ["result.txt"]
    assert record["spec"]["source"]["transport"] == "remote"
    job_id = done["job_id"]
    on_remote = git(remote, "rev-parse", f"refs/codex-farm/results/{job_id}").strip()
    assert on_remote == record["result_commit"]
    assert git(remote, "rev-parse", f"{on_remote}^").strip() == record["spec"]["snapshot_commit"]
    assert git(remote, "show", f"{on_remote}:result.txt") == "done\n"
    assert any("result pushed to refs/codex-farm/results/" in line for line in tail)


async def test_path_job_on_a_worker_that_cannot_read_the_repo_names_farm_transport(
    farm: Farm, remote_worker: RemoteWorker, scripted_gateway, make_repo
) -> None:
    repo = make_repo({"README.md": "# p\n"}, parent=farm.sandbox)
    scripted_gateway.add_scenario({"name": "remote_path", "turns": [{"text": "never runs"}]})

    async with connect_mcp(farm, FARM_TRANSPORT="path") as client:
        done, record, _tail = await run_job(client, repo, "remote_path", remote_worker.queue, [])

    assert done["job_status"] == "failed"
    assert "not readable on this worker" in done["error"] and "FARM_TRANSPORT" in done["error"]
