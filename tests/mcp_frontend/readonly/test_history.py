"""history: bounded git log and line blame, through the real MCP server."""

import os

import pytest
from mcp import Client

from mcp_frontend.server import build_server
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.readonly.conftest import FifoWatch, repo_state


async def test_history_of_a_file_newest_first_and_bounded(service, repo):
    before = repo_state(repo)
    async with Client(build_server(service)) as client:
        full = await call_ok(client, "history", {"path": "proj/notes.txt"})
        one = await call_ok(client, "history", {"path": str(repo / "notes.txt"), "limit": 1})
        folder = await call_ok(client, "history", {"path": "proj"})
    assert repo_state(repo) == before
    assert (
        full["repo"] == "proj" and full["path"] == "notes.txt" and full["tracked"] and full["blame"] is None
    )
    assert [c["subject"] for c in full["commits"]] == ["change notes line three", "initial"] and not full[
        "truncated"
    ]
    head = git(repo, "rev-parse", "HEAD").strip()
    assert full["commits"][0]["hash"] == head[:12] and full["commits"][0]["author"] == "farm-test"
    assert full["commits"][0]["date"][:4].isdigit() and "T" in full["commits"][0]["date"]
    assert one["truncated"] and len(one["commits"]) == 1
    assert [c["subject"] for c in folder["commits"]] == ["change notes line three", "add image", "initial"]


async def test_history_of_a_line_blames_it_and_lists_the_commits_touching_it(service, repo):
    (repo / "notes.txt").write_text("one\ntwo needle (edited)\nthree changed\n")
    before = repo_state(repo)
    async with Client(build_server(service)) as client:
        three = await call_ok(client, "history", {"path": "proj/notes.txt", "line": 3})
        one = await call_ok(client, "history", {"path": "proj/notes.txt", "line": 1})
        edited = await call_ok(client, "history", {"path": "proj/notes.txt", "line": 2})
        untracked_file = repo / "scratch.txt"
        untracked_file.write_text("a\n")
        untracked = await call_ok(client, "history", {"path": "proj/scratch.txt", "line": 1})
    untracked_file.unlink()
    assert repo_state(repo) == before
    assert three["blame"]["text"] == "three changed" and three["blame"]["committed"]
    assert three["blame"]["commit"]["subject"] == "change notes line three"
    assert [c["subject"] for c in three["commits"]] == ["change notes line three", "initial"]
    assert one["blame"]["commit"]["subject"] == "initial" and [c["subject"] for c in one["commits"]] == [
        "initial"
    ]
    assert edited["blame"] == {"line": 2, "text": "two needle (edited)", "committed": False, "commit": None}
    assert (
        untracked["tracked"] is False
        and untracked["commits"] == []
        and untracked["blame"]["committed"] is False
    )


@pytest.mark.parametrize(
    "arguments, code",
    [
        ({"path": "proj/notes.txt", "limit": 51}, "request_too_large"),
        ({"path": "proj/notes.txt", "limit": 0}, "invalid_argument"),
        ({"path": "proj/notes.txt", "line": 99}, "invalid_argument"),
        ({"path": "proj/notes.txt", "line": 0}, "invalid_argument"),
        ({"path": "proj/src", "line": 1}, "invalid_argument"),
        ({"path": "../elsewhere.txt"}, "repo_outside_sandbox"),
        ({"path": "proj/gone.txt"}, "path_not_found"),
        ({"path": "loose.txt"}, "not_a_git_repo"),
    ],
    ids=[
        "limit-over-cap",
        "limit-zero",
        "line-past-end",
        "line-zero",
        "line-of-folder",
        "outside",
        "missing",
        "no-repo",
    ],
)
async def test_history_refuses_bad_input(service, repo, sandbox, tmp_path, arguments, code):
    (tmp_path / "elsewhere.txt").write_text("x\n")
    (sandbox / "loose.txt").write_text("x\n")
    async with Client(build_server(service)) as client:
        error = await call_error(client, "history", arguments)
    assert error["code"] == code, error


async def test_blame_never_opens_a_fifo(service, repo):
    os.mkfifo(repo / "pipe")
    with FifoWatch(repo / "pipe") as watch:
        async with Client(build_server(service)) as client:
            error = await call_error(client, "history", {"path": "proj/pipe", "line": 1})
    assert not watch.blocked and error["code"] == "invalid_argument"
