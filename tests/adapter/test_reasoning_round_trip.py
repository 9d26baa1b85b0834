"""The real Claude Code CLI carries the provider's reasoning back through the adapter, turn after turn.

The scripted gateway plays each provider profile's documented rules (DeepSeek and Kimi refuse a
request whose tool-call turns lack their reasoning, Gemini one whose first call lost its thought
signature, OpenRouter one without its reasoning_details) and sends its reasoning state with every
tool-call turn, parallel calls included; every later request must hand it back on the assistant message
that made those calls, exactly as sent, and each request must still repeat the one before it as a
prefix (the gateway's cache).
"""

import pytest

from adapter.providers import PROFILES

REASONING = ["First write the greeting.", "Read it back and add notes at once.", "Now fix the greeting."]
SCENARIO = {
    "name": "cli_reasoning",
    "turns": [
        {
            "reasoning": REASONING[0],
            "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "{cwd}/hello.txt", "content": "hello\n"}}
            ],
        },
        {
            "reasoning": REASONING[1],
            "tool_calls": [
                {"name": "Read", "arguments": {"file_path": "{cwd}/hello.txt"}},
                {"name": "Write", "arguments": {"file_path": "{cwd}/notes.md", "content": "- one\n"}},
            ],
            "chunks": 4,
        },
        {
            "reasoning": REASONING[2],
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
        {"reasoning": "All done.", "text": "Done."},
    ],
}


def served(gateway, scenario: str) -> list[dict]:
    entries = [r for r in gateway.requests() if r["scenario"] == scenario and r["status"] == 200]
    return sorted(entries, key=lambda entry: len(entry["body"]["messages"]))


def shared_prefix(a: bytes, b: bytes) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


PLAYED = ["deepseek", "kimi", "glm", "qwen", "vllm", "gemini", "openrouter", "generic"]
# Gemini returns no thought text (only signatures); the others send the scripted reasoning back as text.
TEXT_BACK = {profile: REASONING for profile in PLAYED} | {"gemini": [None] * len(REASONING)}


@pytest.mark.cli
@pytest.mark.parametrize("profile", PLAYED)
def test_reasoning_comes_back_on_every_tool_call_message_and_the_prefix_holds(
    profile, scripted_gateway, start_adapter, make_repo, run_claude
):
    scripted_gateway.configure(profile=profile)
    scripted_gateway.add_scenario(SCENARIO)
    adapter = start_adapter(scripted_gateway.url, ADAPTER_PROFILE=profile)
    repo = make_repo({"README.md": "# sample\n"})

    run = run_claude("Make the greeting. [[scenario:cli_reasoning]]", repo, adapter.url, adapter.token)

    assert run.returncode == 0, run.stderr[-2000:]
    assert (repo / "hello.txt").read_text() == "hello, farm\n"
    refused = [r for r in scripted_gateway.requests() if r["status"] != 200]
    assert refused == [], refused[:1]
    entries = served(scripted_gateway, "cli_reasoning")
    bodies = [entry["body"] for entry in entries]
    assert len(bodies) == 4
    field = PROFILES[profile].reasoning_field
    for turn, entry in enumerate(entries):
        messages = entry["body"]["messages"]
        with_calls = [i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("tool_calls")]
        assert [messages[i].get(field) for i in with_calls] == TEXT_BACK[profile][:turn]
        # the gateway checked each one's opaque state came back intact
        if profile in (
            "gemini",
            "openrouter",
        ):
            assert entry["state_checked"] == with_calls
    for earlier, later in zip(bodies, bodies[1:]):
        assert later["messages"][: len(earlier["messages"])] == earlier["messages"]
    # What a prefix cache sees: the bytes of each request that the next one repeats.
    encoded = [repr(body["messages"]).encode() for body in bodies]
    repeated = sum(shared_prefix(a, b) for a, b in zip(encoded, encoded[1:]))
    assert repeated / sum(len(a) for a in encoded[:-1]) >= 0.99
