"""apply and start(apply="on_success") through the real farm: MCP over stdio, Celery, worker, Claude Code."""

import os
import subprocess
from pathlib import Path

from farm_core.keys import JobKeys
from tests.fixtures.farm import Farm, connect_mcp
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok

NOTES = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n"
NEW_APP = "def greet():\n    return 'hello farm'\n"
FINAL = {"text": "Done."}


def edit_scenario(name: str) -> dict:
    """The agent reads notes.txt, then edits its line two and writes src/app.py."""
    read = {"name": "Read", "arguments": {"file_path": "{cwd}/notes.txt"}}
    edits = [
        {
            "name": "Edit",
            "arguments": {"file_path": "{cwd}/notes.txt", "old_string": "two\n", "new_string": "TWO (job)\n"},
        },
        {"name": "Write", "arguments": {"file_path": "{cwd}/src/app.py", "content": NEW_APP}},
    ]
    return {"name": name, "turns": [{"tool_calls": [read]}, {"tool_calls": edits}, FINAL]}


def caller_repo(make_repo, farm: Farm) -> Path:
    return make_repo(
        {"README.md": "# sample\n", "notes.txt": NOTES, "tests.sh": "grep -q 'hello farm' src/app.py\n"},
        parent=farm.sandbox,
    )


async def run_job(client, repo: Path, scenario: str, **extra) -> tuple[str, dict]:
    started = await call_ok(
        client, "start", {"prompt": f"Edit the notes. [[scenario:{scenario}]]", "repo": str(repo), **extra}
    )
    done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 90000})
    assert done["job_status"] == "completed", done
    return started["job_id"], done


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout


def untouchables(repo: Path) -> tuple[bytes, ...]:
    """HEAD, branches and tags, the index, the stash and the number of commits."""
    commands = [
        ("rev-parse", "HEAD"),
        ("for-each-ref", "refs/heads", "refs/tags"),
        ("ls-files", "-s"),
        ("stash", "list"),
        ("rev-list", "--count", "HEAD"),
    ]
    return tuple(git_bytes(repo, *args) for args in commands)


async def test_apply_lands_the_job_result_as_unstaged_changes(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(edit_scenario("apply_lands"))
    repo = caller_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id, done = await run_job(client, repo, "apply_lands")
        before = untouchables(repo)
        applied = await call_ok(client, "apply", {"job_id": job_id})
        again = await call_ok(client, "apply", {"job_id": job_id})
        seen = await call_ok(client, "get", {"job_id": job_id})

    assert done.get("apply_result") is None  # start's default is apply="never"
    assert applied == {
        "job_id": job_id,
        "applied": True,
        "mode": "3way",
        "files": ["notes.txt", "src/app.py"],
        "conflicts": [],
        "message": "applied 2 file(s) to the working tree, unstaged; nothing was committed",
    }
    assert (repo / "notes.txt").read_text() == NOTES.replace("two\n", "TWO (job)\n")
    assert (repo / "src/app.py").read_text() == NEW_APP
    assert sorted(git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()) == [
        " M notes.txt",
        "?? src/app.py",
    ]
    assert untouchables(repo) == before
    assert not again["applied"] and again["message"].startswith("already applied")
    assert seen["apply_result"] == applied  # the apply that wrote is the one get reports


async def test_a_conflicting_local_edit_is_reported_and_the_rest_left_alone(
    farm, make_repo, scripted_gateway
):
    scripted_gateway.add_scenario(edit_scenario("apply_conflict"))
    repo = caller_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id, _ = await run_job(client, repo, "apply_conflict")
        # After the job started, the user edits the same line, and a file the patch does not touch.
        (repo / "notes.txt").write_text(NOTES.replace("two\n", "two (mine)\n"))
        (repo / "README.md").write_bytes(b"# sample\r\nmine \xff\n")
        before = untouchables(repo)
        result = await call_ok(client, "apply", {"job_id": job_id})

    assert result["applied"] is False
    assert result["conflicts"] == ["notes.txt"]
    assert result["files"] == ["notes.txt", "src/app.py"]
    notes = (repo / "notes.txt").read_text()
    assert notes.startswith("one\n<<<<<<< ") and "two (mine)\n=======\nTWO (job)\n>>>>>>> " in notes
    assert (repo / "src/app.py").read_text() == NEW_APP  # git --3way applies the patch's other files
    assert (repo / "README.md").read_bytes() == b"# sample\r\nmine \xff\n"
    assert untouchables(repo) == before


async def test_check_mode_reports_and_changes_nothing(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(edit_scenario("apply_check"))
    repo = caller_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id, _ = await run_job(client, repo, "apply_check")
        (repo / "notes.txt").write_text(NOTES.replace("two\n", "two (mine)\n"))
        index = repo / ".git" / "index"
        before = (untouchables(repo), disk(repo), index.read_bytes(), git(repo, "status", "--porcelain"))
        checked = await call_ok(client, "apply", {"job_id": job_id, "mode": "check"})
        after = (untouchables(repo), disk(repo), index.read_bytes(), git(repo, "status", "--porcelain"))

    assert checked["mode"] == "check" and checked["applied"] is False
    assert checked["conflicts"] == ["notes.txt"] and checked["files"] == ["notes.txt", "src/app.py"]
    assert after == before


async def test_on_success_applies_after_wait_when_every_check_passes(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(edit_scenario("apply_on_success"))
    repo = caller_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id, done = await run_job(
            client,
            repo,
            "apply_on_success",
            apply="on_success",
            scoped_patch={"paths": ["notes.txt", "src"]},
            checks=[{"name": "tests", "command": "bash tests.sh", "timeout_ms": 30000}],
        )
        seen = await call_ok(client, "get", {"job_id": job_id})
        manual = await call_ok(client, "apply", {"job_id": job_id})

    assert done["checks"][1] == "tests: passed"
    assert done["apply_result"]["applied"] is True and done["apply_result"]["files"] == [
        "notes.txt",
        "src/app.py",
    ]
    assert (repo / "src/app.py").read_text() == NEW_APP
    assert (repo / "notes.txt").read_text() == NOTES.replace("two\n", "TWO (job)\n")
    assert seen["apply_result"] == done["apply_result"]  # applied once, reported again
    assert manual["message"].startswith("already applied")


async def test_on_success_does_not_apply_when_a_check_fails(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(edit_scenario("apply_check_fails"))
    repo = caller_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        _, done = await run_job(
            client,
            repo,
            "apply_check_fails",
            apply="on_success",
            checks=[{"name": "tests", "command": "exit 1"}],
        )

    assert done["checks"] == ["tests: failed"]
    assert done["apply_result"]["applied"] is False
    assert (
        done["apply_result"]["message"] == "not applied automatically: not every check passed: tests: failed"
    )
    assert (repo / "notes.txt").read_text() == NOTES and not (repo / "src").exists()


async def test_apply_errors_are_structured(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "apply_stalled", "turns": [{**FINAL, "faults": [{"stall_ms": 20000}]}]}
    )
    scripted_gateway.add_scenario(edit_scenario("apply_moved"))
    repo, stalled_repo = caller_repo(make_repo, farm), caller_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        unknown = await call_error(client, "apply", {"job_id": "no-such-job"})
        bad_mode = await call_error(client, "apply", {"job_id": "no-such-job", "mode": "theirs"})
        stalled = await call_ok(
            client, "start", {"prompt": "Wait. [[scenario:apply_stalled]]", "repo": str(stalled_repo)}
        )
        not_finished = await call_error(client, "apply", {"job_id": stalled["job_id"]})
        await call_ok(client, "cancel", {"job_id": stalled["job_id"]})
        cancelled = await call_ok(client, "wait", {"job_id": stalled["job_id"], "timeout_ms": 30000})

        job_id, _ = await run_job(client, repo, "apply_moved")
        outside = farm.sandbox.parent / f"moved-{repo.name}"
        repo.rename(outside)
        repo.symlink_to(outside, target_is_directory=True)  # the old path now resolves outside SANDBOX_ROOT
        moved = await call_error(client, "apply", {"job_id": job_id})

    assert unknown["code"] == "unknown_job"
    assert bad_mode["code"] == "invalid_argument"
    assert not_finished["code"] == "job_not_finished" and not_finished["hint"]
    assert cancelled["job_status"] == "cancelled"
    assert moved["code"] == "repo_outside_sandbox"
    assert (outside / "notes.txt").read_text() == NOTES


def disk(repo: Path) -> dict[str, bytes]:
    """Every working file's bytes, .git excluded."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [name for name in dirnames if name != ".git"]
        for name in filenames:
            files[os.path.relpath(os.path.join(dirpath, name), repo)] = Path(dirpath, name).read_bytes()
    return files


def attacker_patch(repo: Path, job_id: str, scratch: Path) -> bytes:
    """A patch of the job's snapshot that adds a CI workflow, a conftest.py and a symlink to /etc: what a
    writer of Redis puts under the job's patch key."""
    git(scratch, "clone", "-q", "--no-checkout", str(repo), "evil")
    clone = scratch / "evil"
    git(clone, "fetch", "-q", "origin", f"refs/codex-farm/snapshots/{job_id}")
    git(clone, "checkout", "-q", "--detach", "FETCH_HEAD")
    (clone / ".github/workflows").mkdir(parents=True)
    (clone / ".github/workflows/ci.yml").write_text(
        "on: push\njobs: {steal: {runs-on: ubuntu-latest, steps: [{run: env}]}}\n"
    )
    (clone / "tests").mkdir()
    (clone / "tests/conftest.py").write_text("import os\nos.system('id')\n")
    (clone / "etc").symlink_to("/etc")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "evil")
    return git_bytes(clone, "diff-tree", "-p", "--binary", "--full-index", "HEAD~1", "HEAD")


async def test_a_patch_swapped_in_redis_after_the_job_is_refused_and_the_checkout_left_alone(
    farm, make_repo, scripted_gateway, tmp_path
):
    scripted_gateway.add_scenario(edit_scenario("apply_swapped"))
    repo = caller_repo(make_repo, farm)
    async with connect_mcp(farm) as client:
        job_id, done = await run_job(
            client, repo, "apply_swapped", scoped_patch={"paths": ["notes.txt", "src"]}
        )
        farm.redis.client().set(
            JobKeys(farm.env["FARM_KEY_PREFIX"], job_id).patch, attacker_patch(repo, job_id, tmp_path)
        )
        before = (untouchables(repo), disk(repo), git(repo, "status", "--porcelain", "--untracked-files=all"))
        seen = await call_ok(client, "get", {"job_id": job_id})
        checked = await call_error(client, "apply", {"job_id": job_id, "mode": "check"})
        refused = await call_error(client, "apply", {"job_id": job_id})
        after = (untouchables(repo), disk(repo), git(repo, "status", "--porcelain", "--untracked-files=all"))

    assert done["checks"][0].startswith("scoped_patch: passed") and done["changed_files"] == [
        "notes.txt",
        "src/app.py",
    ]
    assert seen["changed_files"] == ["notes.txt", "src/app.py"]  # what get shows; no longer what Redis holds
    assert refused["code"] == checked["code"] == "patch_mismatch", refused
    assert "sha256" in refused["message"] and refused["hint"]
    assert after == before
    assert (
        not (repo / "etc").is_symlink() and not (repo / ".github").exists() and not (repo / "tests").exists()
    )
