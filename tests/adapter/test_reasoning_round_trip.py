"""The real Claude Code CLI carries the provider's reasoning back through the adapter, turn after turn.

The scripted gateway plays each provider profile's documented rules (DeepSeek and Kimi refuse a
request whose tool-call turns lack their reasoning) and sends reasoning with every tool-call turn,
parallel calls included; every later request must hand it back on the assistant message that made
those calls, exactly as sent, and each request must still repeat the one before it as a prefix (the
gateway's cache).
"""

import pytest

from adapter.providers import PROFILES

REASONING = ["First write the greeting.", "Read it back and add notes at once.", "Now fix the greeting."]
SCENARIO = {
    "name": "cli_reasoning",
    "turns": [
        {"reasoning": REASONING[0], "tool_calls": [{"name": "Write", "arguments": {"file_path": "{cwd}/hello.txt", "content": "hello\n"}}]},
        {
            "reasoning": REASONING[1],
            "tool_calls": [
                {"name": "Read", "arguments": {"file_path": "{cwd}/hello.txt"}},
                {"name": "Write", "arguments": {"file_path": "{cwd}/notes.md", "content": "- one\n"}},
            ],
            "chunks": 4,
        },
        {"reasoning": REASONING[2], "tool_calls": [{"name": "Edit", "arguments": {"file_path": "{cwd}/hello.txt", "old_string": "hello", "new_string": "hello, farm"}}]},
        {"reasoning": "All done.", "text": "Done."},
    ],
}


def served_bodies(gateway, scenario: str) -> list[dict]:
    bodies = [r["body"] for r in gateway.requests() if r["scenario"] == scenario and r["status"] == 200]
    return sorted(bodies, key=lambda body: len(body["messages"]))


def shared_prefix(a: bytes, b: bytes) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


# Profiles the scripted gateway plays (gemini and openrouter carry more than text: not yet).
PLAYED = ["deepseek", "kimi", "glm", "qwen", "vllm", "generic"]


@pytest.mark.cli
@pytest.mark.parametrize("profile", PLAYED)
def test_reasoning_comes_back_on_every_tool_call_message_and_the_prefix_holds(profile, scripted_gateway, start_adapter, make_repo, run_claude):
    scripted_gateway.configure(profile=profile)
    scripted_gateway.add_scenario(SCENARIO)
    adapter = start_adapter(scripted_gateway.url, ADAPTER_PROFILE=profile)
    repo = make_repo({"README.md": "# sample\n"})

    run = run_claude("Make the greeting. [[scenario:cli_reasoning]]", repo, adapter.url, adapter.token)

    assert run.returncode == 0, run.stderr[-2000:]
    assert (repo / "hello.txt").read_text() == "hello, farm\n"
    refused = [r for r in scripted_gateway.requests() if r["status"] != 200]
    assert refused == [], refused[:1]
    bodies = served_bodies(scripted_gateway, "cli_reasoning")
    assert len(bodies) == 4
    field = PROFILES[profile].reasoning_field
    for turn, body in enumerate(bodies):
        with_calls = [m for m in body["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
        assert [m.get(field) for m in with_calls] == REASONING[:turn]
    for earlier, later in zip(bodies, bodies[1:]):
        assert later["messages"][: len(earlier["messages"])] == earlier["messages"]
    # What a prefix cache sees: the bytes of each request that the next one repeats.
    encoded = [repr(body["messages"]).encode() for body in bodies]
    repeated = sum(shared_prefix(a, b) for a, b in zip(encoded, encoded[1:]))
    assert repeated / sum(len(a) for a in encoded[:-1]) >= 0.99
