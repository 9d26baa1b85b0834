"""diff_digest: per-file facts and risk flags of a job's patch or a working tree, never the diff."""

import os

import pytest
from mcp import Client

from farm_core.job_models import JobStatus
from mcp_frontend.server import build_server
from tasks.packaging import binary_patch
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.readonly.conftest import BINARY, FifoWatch, finished_job, repo_state


def by_path(result: dict) -> dict[str, dict]:
    return {f["path"]: f for f in result["files"]}


async def test_digest_of_a_working_tree_against_head(service, repo):
    (repo / "src" / "app.py").write_text(
        (repo / "src" / "app.py").read_text().replace("LIMIT = 3", "LIMIT = 4\nEXTRA = 1")
    )
    (repo / "old.txt").unlink()
    (repo / "package-lock.json").write_text('{"lock": 2}\n')
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: pull_request\n")
    (repo / "big.txt").write_text("line\n" * 400)
    (repo / "image.bin").write_bytes(BINARY + b"\x00more")
    (repo / ".env").write_text("TOKEN=abc\n")
    before = repo_state(repo)

    async with Client(build_server(service)) as client:
        result = await call_ok(client, "diff_digest", {"repo": "proj"})

    assert repo_state(repo) == before
    assert "diff" not in result and result["source"] == "worktree of proj against HEAD"
    files = by_path(result)
    assert sorted(files) == [
        ".env",
        ".github/workflows/ci.yml",
        "big.txt",
        "image.bin",
        "old.txt",
        "package-lock.json",
        "src/app.py",
    ]
    assert files["src/app.py"] | {"hunks": None} == {
        "path": "src/app.py",
        "old_path": None,
        "status": "modified",
        "added": 2,
        "deleted": 1,
        "binary": False,
        "link": None,
        "hunks": None,
        "more_hunks": 0,
        "flags": [],
    }
    assert files["src/app.py"]["hunks"][0].startswith("@@ -3 +3,2 @@")
    assert files["old.txt"]["status"] == "deleted" and files["old.txt"]["flags"] == ["deletes_file"]
    assert files["big.txt"] | {"hunks": None} == {
        "path": "big.txt",
        "old_path": None,
        "status": "added",
        "added": 400,
        "deleted": 0,
        "binary": False,
        "link": None,
        "hunks": None,
        "more_hunks": 0,
        "flags": ["large"],
    }
    assert files["image.bin"]["binary"] and files["image.bin"]["flags"] == ["binary"]
    assert files["package-lock.json"]["flags"] == ["lockfile"] and files[".github/workflows/ci.yml"][
        "flags"
    ] == ["ci"]
    assert files[".env"]["flags"] == ["secret_like"]
    assert result["total_files"] == 7 and result["risky"] and not result["truncated"]
    assert result["flags"] == ["binary", "ci", "deletes_file", "large", "lockfile", "secret_like"]
    assert result["added"] == sum(f["added"] for f in result["files"])


async def test_digest_of_a_clean_tree_is_empty(service, repo):
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "diff_digest", {"repo": str(repo)})
    assert result["files"] == [] and result["total_files"] == 0 and not result["risky"]


async def test_digest_of_a_jobs_stored_patch(service, repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "mv", "notes.txt", "renamed notes.txt")
    (repo / "src" / "app.py").write_text(
        (repo / "src" / "app.py").read_text() + "\n\ndef added():\n    return 1\n"
    )
    (repo / "migrations").mkdir()
    (repo / "migrations" / "0002_add.sql").write_text("ALTER TABLE t ADD c int;\n")
    (repo / "image.bin").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "job result")
    patch = binary_patch(repo, base, "HEAD")
    job_id = finished_job(service, patch, changed=["x"])
    empty_job = finished_job(service, None)

    async with Client(build_server(service)) as client:
        result = await call_ok(client, "diff_digest", {"job_id": job_id})
        empty = await call_ok(client, "diff_digest", {"job_id": empty_job})

    files = by_path(result)
    assert result["source"] == f"job {job_id}" and sorted(files) == [
        "image.bin",
        "migrations/0002_add.sql",
        "renamed notes.txt",
        "src/app.py",
    ]
    assert (
        files["renamed notes.txt"]["status"] == "renamed"
        and files["renamed notes.txt"]["old_path"] == "notes.txt"
    )
    assert (
        files["src/app.py"]["added"] == 4
        and files["src/app.py"]["deleted"] == 0
        and len(files["src/app.py"]["hunks"]) == 1
    )
    assert files["image.bin"]["status"] == "deleted" and files["image.bin"]["binary"]
    assert files["image.bin"]["flags"] == ["deletes_file", "binary"]
    assert files["migrations/0002_add.sql"]["flags"] == ["migration"]
    assert empty["files"] == [] and empty["source"] == f"job {empty_job}"


@pytest.mark.parametrize(
    "arguments, code",
    [
        ({"job_id": "0" * 32}, "unknown_job"),
        ({"job_id": "x" * 65}, "unknown_job"),
        ({}, "invalid_argument"),
        ({"job_id": "RUNNING", "repo": "proj"}, "invalid_argument"),
        ({"job_id": "RUNNING"}, "job_not_finished"),
        ({"job_id": "EXPIRED"}, "patch_unavailable"),
        ({"repo": "../elsewhere"}, "repo_outside_sandbox"),
        ({"repo": "proj/src"}, "not_a_git_repo"),
    ],
    ids=[
        "unknown-job",
        "overlong-job-id",
        "neither",
        "both",
        "running",
        "patch-expired",
        "outside",
        "not-a-repo",
    ],
)
async def test_diff_digest_refuses_bad_input(service, repo, tmp_path, arguments, code):
    (tmp_path / "elsewhere").mkdir()
    jobs = {
        "RUNNING": finished_job(service, None, status=JobStatus.running),
        "EXPIRED": finished_job(service, None, changed=["notes.txt"]),
    }
    arguments = {key: jobs.get(value, value) for key, value in arguments.items()}
    async with Client(build_server(service)) as client:
        error = await call_error(client, "diff_digest", arguments)
    assert error["code"] == code, error


LINK_DIGEST = {
    "status": "added",
    "added": 1,
    "deleted": 0,
    "binary": False,
    "hunks": ["@@ -0,0 +1,1 @@ (untracked)"],
    "more_hunks": 0,
    "flags": ["symlink"],
    "old_path": None,
}


async def test_an_untracked_symlink_out_of_the_repo_is_a_link_never_read(service, repo, tmp_path):
    # The attack: a link to a file outside the sandbox made diff_digest count that file's lines.
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$salt$hash:19000:0:99999:7:::\n" * 7)
    (repo / "shadow-link").symlink_to(shadow)
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "diff_digest", {"repo": "proj"})
    assert by_path(result)["shadow-link"] == {"path": "shadow-link", "link": str(shadow), **LINK_DIGEST}
    assert result["added"] == 1 and "symlink" in result["flags"]


async def test_a_symlink_to_a_fifo_in_the_worktree_is_never_opened(service, repo):
    # The attack: opening a FIFO blocks until a writer comes, so diff_digest hung forever.
    os.mkfifo(repo / "pipe")  # git lists no FIFO itself; the link to it is an untracked file
    (repo / "to-pipe").symlink_to("pipe")
    before = repo_state(repo)
    with FifoWatch(repo / "pipe") as watch:
        async with Client(build_server(service)) as client:
            result = await call_ok(client, "diff_digest", {"repo": "proj"})
    assert not watch.blocked, "diff_digest blocked opening the FIFO"
    assert repo_state(repo) == before
    assert sorted(by_path(result)) == ["to-pipe"] and by_path(result)["to-pipe"]["link"] == "pipe"


async def test_a_symlink_in_a_jobs_patch_is_shown_as_a_link(service, repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "etc-passwd").symlink_to("/etc/passwd")
    git(repo, "add", "etc-passwd")
    git(repo, "commit", "-q", "-m", "job adds a link")
    job_id = finished_job(service, binary_patch(repo, base, "HEAD"), changed=["etc-passwd"])
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "diff_digest", {"job_id": job_id})
    [entry] = result["files"]
    assert (entry["path"], entry["link"], entry["added"], entry["flags"]) == (
        "etc-passwd",
        "/etc/passwd",
        1,
        ["symlink"],
    )
