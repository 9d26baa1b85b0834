"""apply_edits: exact, all-or-nothing find/replace edits through the real MCP server."""

import os
import stat

import pytest
from mcp import Client

from mcp_frontend.server import build_server
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.readonly.conftest import PY, repo_state


async def test_edits_land_exactly_and_keep_the_file_mode(service, repo):
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\necho old\necho old\n")
    script.chmod(0o755)
    edits = [
        {"path": "src/app.py", "find": "LIMIT = 3", "replace": "LIMIT = 5"},
        {
            "path": "src/app.py",
            "find": r"def (\w+)\(self, job_id\)",
            "replace": r"def \1(self, job_id: str)",
            "regex": True,
            "count": 2,
        },
        {"path": "run.sh", "find": "old", "replace": "new", "count": 2},
    ]
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "apply_edits", {"repo": "proj", "edits": edits})

    assert result["repo"] == "proj" and result["edits"] == 3
    assert [(f["path"], f["replacements"]) for f in result["files"]] == [("src/app.py", 3), ("run.sh", 2)]
    expected = PY.replace("LIMIT = 3", "LIMIT = 5").replace("(self, job_id)", "(self, job_id: str)")
    assert (repo / "src" / "app.py").read_text() == expected
    assert result["files"][0]["bytes_after"] == len(expected.encode())
    assert script.read_text() == "#!/bin/sh\necho new\necho new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert sorted(os.listdir(repo / "src")) == ["app.py"]  # no temporary files left behind


async def test_one_failing_edit_means_nothing_is_written(service, repo):
    before = repo_state(repo)
    edits = [
        {"path": "src/app.py", "find": "LIMIT = 3", "replace": "LIMIT = 5"},
        {"path": "notes.txt", "find": "one", "replace": "ONE"},
        {"path": "notes.txt", "find": "e", "replace": "E"},  # matches 6 times, 1 expected
        {"path": "src/app.py", "find": "absent text", "replace": "x"},
    ]
    async with Client(build_server(service)) as client:
        error = await call_error(client, "apply_edits", {"repo": "proj", "edits": edits})
    assert error["code"] == "edit_mismatch" and error["hint"].startswith("nothing was written")
    assert "edits[2] notes.txt: find matched 6 time(s), count expects 1" in error["message"]
    assert "edits[3] src/app.py: find matched 0 time(s), count expects 1" in error["message"]
    assert repo_state(repo) == before


def edit(path: str = "notes.txt", **fields) -> dict:
    return {"path": path, "find": "one", "replace": "ONE", **fields}


@pytest.mark.parametrize(
    "arguments, code",
    [
        ({"repo": "../elsewhere", "edits": [edit()]}, "repo_outside_sandbox"),
        ({"repo": "proj", "edits": [edit("../../elsewhere/notes.txt")]}, "path_outside_repo"),
        ({"repo": "proj", "edits": [edit("OUTSIDE")]}, "path_outside_repo"),
        ({"repo": "proj", "edits": [edit("escape/notes.txt")]}, "path_outside_repo"),  # through a symlink
        ({"repo": "proj", "edits": [edit("link.txt")]}, "path_outside_repo"),
        ({"repo": "proj", "edits": [edit(".git/config")]}, "path_outside_repo"),
        ({"repo": "proj", "edits": [edit()] * 51}, "request_too_large"),
        ({"repo": "proj", "edits": []}, "invalid_argument"),
        ({"repo": "proj", "edits": [edit(find="(", regex=True)]}, "invalid_argument"),
        ({"repo": "proj", "edits": [edit(count=0)]}, "invalid_argument"),
        ({"repo": "proj", "edits": [edit(find="")]}, "invalid_argument"),
        ({"repo": "proj", "edits": [edit("image.bin")]}, "invalid_argument"),
        ({"repo": "proj", "edits": [edit("src")]}, "path_not_found"),
        ({"repo": "proj", "edits": [edit("absent.txt")]}, "path_not_found"),
    ],
    ids=[
        "repo-outside",
        "dotdot",
        "absolute",
        "symlinked-dir",
        "symlinked-file",
        "git-dir",
        "too-many-edits",
        "no-edits",
        "bad-regex",
        "count-zero",
        "empty-find",
        "binary",
        "folder",
        "missing",
    ],
)
async def test_apply_edits_refuses_bad_input_and_writes_nothing(service, repo, tmp_path, arguments, code):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "notes.txt").write_text("one\n")
    (repo / "escape").symlink_to(outside, target_is_directory=True)
    (repo / "link.txt").symlink_to(outside / "notes.txt")
    arguments = {
        **arguments,
        "edits": [
            dict(e, path=str(outside / "notes.txt")) if e["path"] == "OUTSIDE" else e
            for e in arguments["edits"]
        ],
    }
    before = repo_state(repo), (outside / "notes.txt").read_bytes()
    async with Client(build_server(service)) as client:
        error = await call_error(client, "apply_edits", arguments)
    assert error["code"] == code, error
    assert (repo_state(repo), (outside / "notes.txt").read_bytes()) == before
