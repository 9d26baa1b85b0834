"""read_pack: bounded slices around definitions and keywords, through the real MCP server."""

import os
import shutil

import pytest
from mcp import Client

from mcp_frontend.server import build_server
from tests.fixtures.git_repos import git
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.readonly.conftest import FifoWatch, repo_state


async def test_read_pack_shows_definitions_with_their_bodies(service, repo):
    before = repo_state(repo)
    symbols = [
        "greet",
        "Store.load_patch",
        "render",
        "handler",
        "Serve",
        "parse",
        "Token",
        "LIMIT",
        "nowhere_defined",
    ]
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "read_pack", {"paths": ["proj"], "symbols": symbols, "context": 0})
    assert repo_state(repo) == before
    pack = result["pack"]
    assert not result["truncated"] and result["bytes"] == len(pack.encode()) <= 16 * 1024
    assert result["missing"] == ["nowhere_defined"]
    ranges = {f["path"]: f["ranges"] for f in result["files"]}
    assert ranges == {
        "proj/cmd/main.go": [[7, 10]],
        "proj/lib/parse.rs": [[1, 3], [5, 8]],
        "proj/src/app.py": [[3, 3], [6, 8], [14, 16]],
        "proj/web/app.ts": [[3, 8], [10, 12]],
    }
    assert "== proj/src/app.py (19 lines) ==\n" in pack
    assert (
        '    6| def greet(name):\n    7|     """Say hello."""\n    8|     return f"hello {name}"\n...\n'
        in pack
    )
    assert "   16|         return self.redis.get(key)\n" in pack and "def key" not in pack
    # braces in strings do not end the body
    assert '    5|     return "{}";\n' in pack and "    8| }\n" in pack
    assert (
        "   10| func (s *Server) Serve(port int) error {" not in pack
        and "    7| func (s *Server) Serve" in pack
    )
    found = {f["path"]: f["found"] for f in result["files"]}
    assert found["proj/lib/parse.rs"] == ["Token", "parse"]


async def test_keywords_merge_ranges_and_whole_files_without_terms(service, repo):
    async with Client(build_server(service)) as client:
        hits = await call_ok(
            client, "read_pack", {"paths": ["proj/src/app.py"], "keywords": ["JOB_ID", "hello"], "context": 1}
        )
        whole = await call_ok(client, "read_pack", {"paths": ["proj/notes.txt"]})
    assert [f["ranges"] for f in hits["files"]] == [[[6, 9], [13, 19]]]
    assert hits["files"][0]["found"] == ["hello", "JOB_ID"] and hits["missing"] == []
    assert (
        whole["pack"]
        == "== proj/notes.txt (3 lines) ==\n    1| one\n    2| two needle\n    3| three changed\n"
    )


async def test_read_pack_stays_within_max_bytes(service, repo):
    (repo / "big.py").write_text("".join(f"def f{i}():\n    return {i}\n" for i in range(2000)))
    async with Client(build_server(service)) as client:
        result = await call_ok(
            client, "read_pack", {"paths": ["proj/big.py", "proj/notes.txt"], "max_bytes": 1000}
        )
    assert result["truncated"] and len(result["pack"].encode()) <= 1000 == 1000
    assert result["pack"].endswith("more lines left out at max_bytes=1000\n")
    assert [f["path"] for f in result["files"]] == ["proj/big.py"] and result["files"][0]["ranges"][0][0] == 1


@pytest.mark.parametrize(
    "arguments, code",
    [
        ({"paths": ["proj"], "max_bytes": 200 * 1024 + 1}, "request_too_large"),
        ({"paths": ["proj"], "max_bytes": 10}, "invalid_argument"),
        ({"paths": ["proj"] * 51}, "request_too_large"),
        ({"paths": ["proj"], "symbols": [f"s{i}" for i in range(51)]}, "request_too_large"),
        ({"paths": ["proj"], "symbols": ["not a name"]}, "invalid_argument"),
        ({"paths": []}, "invalid_argument"),
        ({"paths": ["../outside.py"]}, "repo_outside_sandbox"),
        ({"paths": ["proj/link.py"]}, "repo_outside_sandbox"),
        ({"paths": ["proj/nope.py"]}, "path_not_found"),
    ],
    ids=[
        "max-bytes-over-cap",
        "max-bytes-tiny",
        "too-many-paths",
        "too-many-symbols",
        "bad-symbol",
        "no-paths",
        "dotdot",
        "symlink-out",
        "missing",
    ],
)
async def test_read_pack_refuses_bad_input(service, repo, tmp_path, arguments, code):
    (tmp_path / "outside.py").write_text("def secret(): pass\n")
    (repo / "link.py").symlink_to(tmp_path / "outside.py")
    async with Client(build_server(service)) as client:
        error = await call_error(client, "read_pack", arguments)
    assert error["code"] == code, error


async def test_links_are_listed_with_their_target_and_never_read(service, repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keys.py").write_text("PRIVATE = 'outside the sandbox'\n")
    (repo / "keys.py").symlink_to(outside / "keys.py")
    (repo / "vendor").symlink_to(outside, target_is_directory=True)
    (repo / "conf").mkdir()
    (repo / "conf" / "keys.py").write_text("harmless = 1\n")
    git(repo, "add", "conf")
    git(repo, "commit", "-q", "-m", "conf")
    shutil.rmtree(repo / "conf")
    # git still lists conf/keys.py from its index
    (repo / "conf").symlink_to(outside, target_is_directory=True)
    async with Client(build_server(service)) as client:
        result = await call_ok(
            client, "read_pack", {"paths": ["proj"], "keywords": ["outside the sandbox", "PRIVATE"]}
        )
    assert "outside the sandbox" not in result["pack"] and result["missing"] == [
        "outside the sandbox",
        "PRIVATE",
    ]
    assert result["links"] == [
        {"path": "proj/conf", "target": str(outside)},
        {"path": "proj/keys.py", "target": str(outside / "keys.py")},
        {"path": "proj/vendor", "target": str(outside)},
    ]


async def test_a_fifo_is_skipped_whether_named_or_met_in_a_folder(service, repo, sandbox):
    os.mkfifo(repo / "pipe")
    os.mkfifo(sandbox / "loose-pipe")  # outside any checkout: met by walking the folder
    with FifoWatch(repo / "pipe") as watch, FifoWatch(sandbox / "loose-pipe") as loose:
        async with Client(build_server(service)) as client:
            named = await call_ok(client, "read_pack", {"paths": ["proj/pipe", "loose-pipe"]})
            walked = await call_ok(client, "read_pack", {"paths": ["."], "keywords": ["needle"]})
    assert not watch.blocked and not loose.blocked, "read_pack blocked opening a FIFO"
    assert named["files"] == [] and named["pack"] == ""
    assert [f["path"] for f in walked["files"]] == ["proj/notes.txt"]
