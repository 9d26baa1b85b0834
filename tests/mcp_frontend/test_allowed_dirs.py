"""start's `allowed_dirs`: the first entry is the repo, every other one must lie in that checkout; none is
ignored.

The service runs against the session's real Redis with Celery's hand-off replaced by a list, so nothing
reaches a worker."""

import pytest
from mcp import Client

from farm_core.refs import SNAPSHOT_REF_PREFIX
from mcp_frontend.server import build_server
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok


@pytest.fixture
def repos(recording, make_repo):
    """Two checkouts in the sandbox: app (with a src folder) and lib."""
    return make_repo({"src/app.py": "x = 1\n"}, name="app", parent=recording.sandbox), make_repo(
        name="lib", parent=recording.sandbox
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {"allowed_dirs": ["app"]},
        {"allowed_dirs": ["app", "app/src", "app/docs-to-come"]},
        {"repo": "app", "allowed_dirs": ["app/src"]},
    ],
    ids=["repo-only", "repo-and-its-folders", "repo-given-apart"],
)
async def test_folders_of_the_jobs_checkout_are_accepted(recording, repos, arguments):
    async with Client(build_server(recording.service)) as client:
        started = await call_ok(client, "start", {"prompt": "fix it", **arguments})
    [spec] = recording.sent
    assert spec.job_id == started["job_id"] and spec.source.location == str(repos[0])


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (
            {"allowed_dirs": ["app", "lib"]},
            "invalid_argument",
            "allowed_dirs[1] 'lib' is outside the job's repo 'app'",
        ),
        (
            {"repo": "app", "allowed_dirs": ["lib"]},
            "invalid_argument",
            "allowed_dirs[0] 'lib' is outside the job's repo 'app'",
        ),
        (
            {"allowed_dirs": ["app", "app/../lib/x"]},
            "invalid_argument",
            "allowed_dirs[1] 'app/../lib/x' is outside the job's repo 'app'",
        ),
        (
            {"allowed_dirs": ["app", "/etc"]},
            "repo_outside_sandbox",
            "allowed_dirs[1] '/etc' resolves outside SANDBOX_ROOT",
        ),
        (
            {"jobs": [{"allowed_dirs": ["app"]}, {"allowed_dirs": ["app", "lib"]}]},
            "invalid_argument",
            "jobs[1]: allowed_dirs[1] 'lib' is outside the job's repo 'app'",
        ),
    ],
    ids=["second-repo", "beside-repo", "dotdot-out", "outside-sandbox", "fanout-entry"],
)
async def test_an_entry_the_job_cannot_reach_is_refused_not_ignored(
    recording, repos, arguments, code, message
):
    # The attack: every entry after the first was silently dropped, so the caller believed the agent had them.
    async with Client(build_server(recording.service)) as client:
        error = await call_error(client, "start", {"prompt": "fix it", **arguments})
    assert (error["code"], error["message"]) == (code, message)
    assert error["hint"] and "\n" not in error["hint"]
    assert recording.sent == [] and recording.recorded() == 0
    assert git(repos[0], "for-each-ref", SNAPSHOT_REF_PREFIX) == ""
