"""analyze: one cheap call over bounded file slices through the real adapter; identical calls come from the
cache."""

import pytest
from mcp import Client

from mcp_frontend.server import build_server
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.cheap.support import sandbox, service, tree_bytes  # noqa: F401

MARKER = "[[scenario:cheap-analyze]]"
GREET = "def greet():\n    return 'hello'\n"
BIG = "".join(f"line {n:06d} of a long generated file\n" for n in range(1500))  # ~51 KB


@pytest.fixture
def repo(make_repo, sandbox):  # noqa: F811
    return make_repo(
        {"src/app.py": GREET, "src/big.py": BIG, "docs/notes.md": "notes\n"}, name="app", parent=sandbox
    )


async def test_analyze_answers_with_one_call_then_from_the_cache(service, repo, scripted_gateway):  # noqa: F811
    scripted_gateway.add_scenario(
        {
            "name": "cheap-analyze",
            "turns": [
                {"text": "greet() returns 'hello'.", "usage": {"prompt_tokens": 321, "completion_tokens": 9}}
            ],
        }
    )
    before = tree_bytes(repo)
    arguments = {
        "question": f"What does greet return? {MARKER}",
        "files": ["src/app.py"],
        "globs": ["src/*.py"],
        "repo": "app",
    }

    async with Client(build_server(service)) as client:
        first = await call_ok(client, "analyze", arguments)
        assert len(scripted_gateway.requests()) == 1
        second = await call_ok(client, "analyze", arguments)
        assert len(scripted_gateway.requests()) == 1  # served from the cache: no gateway call
        (repo / "src/app.py").write_text(GREET.replace("hello", "hi"))
        third = await call_ok(client, "analyze", arguments)

    assert first["answer"] == "greet() returns 'hello'." and first["cached"] is False
    assert first["files_used"] == ["src/app.py", "src/big.py"]
    assert any(
        note.startswith("src/big.py: first ") and f"of {len(BIG)} bytes" in note
        for note in first["truncated"]
    )
    assert first["usage"]["input_tokens"] == 321 and first["usage"]["output_tokens"] == 9
    assert second == {
        **first,
        "cached": True,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0},
    }
    assert third["cached"] is False  # the file changed: a new content hash
    requests = scripted_gateway.requests()
    assert len(requests) == 2 and [r["scenario"] for r in requests] == ["cheap-analyze"] * 2
    sent = str(requests[0]["body"]["messages"])
    assert "return 'hello'" in sent and "line 000000" in sent and "line 001499" not in sent
    (repo / "src/app.py").write_text(GREET)
    assert tree_bytes(repo) == before


@pytest.mark.parametrize(
    "arguments, code",
    [
        ({"files": ["../../outside.txt"]}, "path_outside_sandbox"),
        ({"files": ["/etc/hostname"]}, "path_outside_sandbox"),
        ({"files": ["escape/secret.txt"]}, "path_outside_sandbox"),
        ({"globs": ["../../*"]}, "path_outside_sandbox"),
        ({"globs": ["/etc/*"]}, "path_outside_sandbox"),
        ({"files": ["src/app.py"], "repo": ".."}, "path_outside_sandbox"),
        ({"files": ["missing.py"]}, "invalid_argument"),
        ({}, "invalid_argument"),
        ({"files": [f"f{n}.py" for n in range(51)]}, "invalid_argument"),
        ({"files": ["src/app.py"], "question": "x" * 8001}, "invalid_argument"),
        ({"files": ["src/app.py"], "question": "   "}, "invalid_argument"),
    ],
    ids=[
        "dotdot",
        "absolute",
        "symlink-out",
        "glob-dotdot",
        "glob-absolute",
        "repo-out",
        "missing",
        "nothing",
        "too-many",
        "long-question",
        "empty-question",
    ],
)
# noqa: F811
async def test_analyze_refuses_bad_input_without_a_model_call(
    service, repo, sandbox, scripted_gateway, arguments, code
):
    (sandbox.parent / "outside.txt").write_text("outside\n")
    (sandbox.parent / "escape").mkdir()
    (sandbox.parent / "escape" / "secret.txt").write_text("secret\n")
    (repo / "escape").symlink_to(sandbox.parent / "escape", target_is_directory=True)
    async with Client(build_server(service)) as client:
        error = await call_error(client, "analyze", {"question": "q", "repo": "app", **arguments})
    assert error["code"] == code and error["hint"]
    assert scripted_gateway.requests() == []
