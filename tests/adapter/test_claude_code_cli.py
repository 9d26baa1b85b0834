"""The real Claude Code CLI, pointed at the adapter, plays a multi-turn tool scenario end to end."""

import pytest

from tests.fixtures.git_repos import git

EDIT_SCENARIO = {
    "name": "cli_edit",
    "turns": [
        {
            "text": "Creating the greeting.",
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/hello.txt", "content": "hello\n"}}
            ],
        },
        {
            "reasoning": "Check the file and add notes at the same time.",
            "tool_calls": [
                {"name": "Read", "arguments": {"file_path": "{cwd}/hello.txt"}},
                {
                    "name": "Write",
                    "arguments": {"file_path": "{cwd}/notes/todo.md", "content": "- one\n- two\n"},
                },
            ],
            "chunks": 5,
        },
        {
            "expect": ["hello"],
            "tool_calls": [
                {
                    "name": "Edit",
                    "arguments": {
                        "file_path": "{cwd}/hello.txt",
                        "old_string": "hello",
                        "new_string": "hello, farm",
                    },
                }
            ],
        },
        {"text": "Done: hello.txt greets the farm and notes/todo.md lists two items."},
    ],
}


@pytest.mark.cli
@pytest.mark.parametrize("output_format", ["json", "stream-json"])
def test_claude_code_completes_scripted_edits(
    output_format, scripted_gateway, start_adapter, make_repo, run_claude
):
    scripted_gateway.add_scenario(EDIT_SCENARIO)
    adapter = start_adapter(scripted_gateway.url)
    repo = make_repo({"README.md": "# sample\n"})

    run = run_claude(
        "Make the greeting files. [[scenario:cli_edit]]", repo, adapter.url, adapter.token, output_format
    )

    result = run.final_result()
    assert run.returncode == 0, run.stderr[-2000:]
    assert result["is_error"] is False and result["subtype"] == "success"
    assert "hello.txt greets the farm" in result["result"]
    assert (repo / "hello.txt").read_text() == "hello, farm\n"
    assert (repo / "notes" / "todo.md").read_text() == "- one\n- two\n"
    assert sorted(git(repo, "status", "--porcelain", "--untracked-files=all").split("\n")[:-1]) == [
        "?? hello.txt",
        "?? notes/todo.md",
    ]
    served = [r for r in scripted_gateway.requests() if r["scenario"] == "cli_edit" and r["status"] == 200]
    assert sorted({r["turn"] for r in served}) == [0, 1, 2, 3]


@pytest.mark.cli
def test_each_turn_extends_the_previous_request_so_prefix_caches_hit(
    scripted_gateway, start_adapter, make_repo, run_claude
):
    scripted_gateway.add_scenario({**EDIT_SCENARIO, "name": "cli_cache"})
    adapter = start_adapter(scripted_gateway.url)
    repo = make_repo({"README.md": "# sample\n"})

    run_claude("Make the greeting files. [[scenario:cli_cache]]", repo, adapter.url, adapter.token)

    bodies = [
        r["body"] for r in scripted_gateway.requests() if r["scenario"] == "cli_cache" and r["status"] == 200
    ]
    bodies.sort(key=lambda body: len(body["messages"]))
    assert len(bodies) == 4
    for earlier, later in zip(bodies, bodies[1:]):
        assert later["messages"][: len(earlier["messages"])] == earlier["messages"]
        assert later["tools"] == earlier["tools"]
    assert [m["role"] for m in bodies[0]["messages"]].count("system") == 1
    assert bodies[0]["messages"][0]["role"] == "system"
    assert "x-anthropic-billing-header" not in str(bodies[0]["messages"][0]["content"])
