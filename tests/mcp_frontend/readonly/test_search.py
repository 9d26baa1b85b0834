"""search: regex over the sandbox's files through the real MCP server, never a model."""

import os
import shutil

import pytest
from mcp import Client

from mcp_frontend.readonly.search import search
from mcp_frontend.server import build_server
from tests.fixtures.git_repos import git
from tests.fixtures.machine_tools import require_ripgrep
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.readonly.conftest import FifoWatch, repo_state


async def test_search_finds_lines_in_text_files_only(service, repo, sandbox):
    (repo / "new.txt").write_text("untracked needle\n" + "x" * 1000 + "needle\n")
    before = repo_state(repo)
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "search", {"pattern": r"ne+dle", "paths": ["proj"]})
    assert repo_state(repo) == before
    assert not result["truncated"] and result["engine"] in ("rg", "python")
    hits = [(m["path"], m["line"]) for m in result["matches"]]
    # Tracked and untracked text files; not the ignored folder, the binary file or .git.
    assert hits == [("proj/new.txt", 1), ("proj/new.txt", 2), ("proj/notes.txt", 2)]
    assert result["matches"][0]["text"] == "untracked needle"
    long_line = result["matches"][1]["text"]
    assert len(long_line) == 300 and long_line.endswith("…")


async def test_search_takes_absolute_paths_a_glob_and_stops_at_max_results(service, repo):
    async with Client(build_server(service)) as client:
        limited = await call_ok(client, "search", {"pattern": "def ", "paths": [str(repo)], "max_results": 2})
        only_py = await call_ok(client, "search", {"pattern": "return", "paths": [str(repo)], "glob": "*.py"})
        folded = await call_ok(
            client, "search", {"pattern": "HELLO", "paths": ["proj/src/app.py"], "ignore_case": True}
        )
    assert limited["truncated"] and len(limited["matches"]) == 2
    assert {m["path"] for m in only_py["matches"]} == {"proj/src/app.py"} and len(only_py["matches"]) == 3
    assert [m["line"] for m in folded["matches"]] == [7, 8]


def test_ripgrep_and_the_python_scan_agree(repo, sandbox):
    require_ripgrep()
    (repo / "a-b.txt").write_text("needle\n")
    (repo / "a").mkdir()
    (repo / "a" / "x.txt").write_text("needle\n")
    for pattern, glob in [
        ("needle|return", None),
        ("def", "*.py"),
        ("e", "!*.ts"),
        ("on", "proj/.github/**"),
        ("needle", "!proj/a/*"),
        ("return", "**/src/*.p[xy]"),
    ]:
        fast = search(sandbox, pattern, ["proj"], glob, 200)
        slow = search(sandbox, pattern, ["proj"], glob, 200, use_rg=False)
        assert (fast.engine, slow.engine) == ("rg", "python")
        assert fast.matches == slow.matches, pattern


async def test_a_pattern_ripgrep_cannot_take_falls_back_to_python(service, repo):
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "search", {"pattern": r"(?<=two )needle", "paths": ["proj"]})
    assert result["engine"] == "python"
    assert [(m["path"], m["line"]) for m in result["matches"]] == [("proj/notes.txt", 2)]


def test_the_python_scan_honours_gitignore_and_nested_repos(repo, sandbox, make_repo):
    make_repo({"inner.txt": "needle inner\n", ".gitignore": "skip.txt\n"}, name="other", parent=sandbox)
    (sandbox / "other" / "skip.txt").write_text("needle skipped\n")
    (sandbox / "loose.txt").write_text("needle loose\n")
    result = search(sandbox, "needle", ["."], None, 50, use_rg=False)
    assert [m.path for m in result.matches] == ["loose.txt", "other/inner.txt", "proj/notes.txt"]


@pytest.mark.parametrize(
    "arguments, code",
    [
        ({"pattern": "x"}, "invalid_argument"),  # no paths
        ({"pattern": "x", "paths": []}, "invalid_argument"),
        ({"pattern": "(unclosed", "paths": ["proj"]}, "invalid_argument"),
        ({"pattern": "x", "paths": ["proj"], "max_results": 501}, "request_too_large"),
        ({"pattern": "x", "paths": ["proj"], "max_results": 0}, "invalid_argument"),
        ({"pattern": "x", "paths": ["proj"] * 51}, "request_too_large"),
        ({"pattern": "x", "paths": ["../outside"]}, "repo_outside_sandbox"),
        ({"pattern": "x", "paths": ["/"]}, "repo_outside_sandbox"),
        ({"pattern": "x", "paths": ["proj/escape"]}, "repo_outside_sandbox"),  # a symlink leading out
        ({"pattern": "x", "paths": ["proj/missing.txt"]}, "path_not_found"),
    ],
    ids=[
        "no-paths",
        "empty-paths",
        "bad-regex",
        "too-many-results",
        "zero-results",
        "too-many-paths",
        "dotdot",
        "absolute-outside",
        "symlink-out",
        "missing",
    ],
)
async def test_search_refuses_bad_input(service, repo, tmp_path, arguments, code):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("x\n")
    (repo / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    async with Client(build_server(service)) as client:
        error = await call_error(client, "search", arguments)
    assert error["code"] == code, error
    assert error["hint"]


def test_a_pattern_with_a_nul_is_searched_without_ripgrep(repo, sandbox):
    require_ripgrep()
    (repo / "data.bin").write_bytes(b"head\x00tail\n")
    found = search(sandbox, "\x00", ["proj"], None, 10)
    assert found.engine == "python"
    assert found.matches == []  # files holding a NUL are binary: skipped, as ripgrep skips them


async def test_a_fifo_named_as_a_path_is_never_opened(service, repo):
    # The attack: ripgrep opens a path it is given, and opening a FIFO blocks until a writer comes.
    require_ripgrep()
    os.mkfifo(repo / "pipe")
    (repo / "to-pipe").symlink_to("pipe")
    with FifoWatch(repo / "pipe") as watch:
        async with Client(build_server(service)) as client:
            named = await call_ok(client, "search", {"pattern": "x", "paths": ["proj/pipe"]})
            linked = await call_ok(client, "search", {"pattern": "x", "paths": ["proj/to-pipe"]})
            folder = await call_ok(client, "search", {"pattern": "needle", "paths": ["proj"]})
    assert not watch.blocked, "search blocked opening the FIFO"
    assert named["matches"] == [] and linked["matches"] == []
    assert [m["path"] for m in folder["matches"]] == ["proj/notes.txt"]


@pytest.mark.parametrize("use_rg", [True, False], ids=["rg", "python"])
def test_a_tracked_file_under_a_folder_swapped_for_a_link_out_is_not_read(repo, sandbox, tmp_path, use_rg):
    # git still lists conf/app.ini from its index after conf/ became a link to a folder outside the sandbox.
    if use_rg:
        require_ripgrep()
    (repo / "conf").mkdir()
    (repo / "conf" / "app.ini").write_text("harmless\n")
    git(repo, "add", "conf")
    git(repo, "commit", "-q", "-m", "conf")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.ini").write_text("TOP SECRET outside the sandbox\n")
    shutil.rmtree(repo / "conf")
    (repo / "conf").symlink_to(outside, target_is_directory=True)
    found = search(sandbox, "SECRET", ["proj"], None, 50, use_rg=use_rg)
    assert found.engine == ("rg" if use_rg else "python")
    assert found.matches == []
