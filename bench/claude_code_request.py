"""A Claude Code-shaped Anthropic Messages request of a chosen size, for benchmarks."""

import json
from collections.abc import Callable

TOOL_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file_path": {"type": "string", "description": "The absolute path to the file"},
        "offset": {"type": "integer", "exclusiveMinimum": 0, "description": "Line to start from"},
        "limit": {"type": "integer", "exclusiveMinimum": 0},
        "mode": {"type": "string", "enum": ["fast", "full"], "default": "fast"},
    },
    "required": ["file_path"],
}


def claude_code_request(
    target_bytes: int = 100_000,
    stream: bool = False,
    marker: str = "[[scenario:bench]]",
    seal_reasoning: Callable[[str], str] | None = None,
) -> dict:
    """A request with billing header, cached system blocks, a mid-conversation system message,
    12 tools and a tool-use history padded to about target_bytes of JSON; with seal_reasoning, every
    tool-use turn starts with a thinking block carrying the provider's reasoning, as Claude Code sends it
    back."""
    system = [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=sdk-cli;"},
        {
            "type": "text",
            "text": "You are an agent working in a repository. " * 40,
            "cache_control": {"type": "ephemeral"},
        },
    ]
    tools = [
        {"name": name, "description": f"The {name} tool. " * 30, "input_schema": TOOL_SCHEMA}
        for name in (
            "Agent",
            "Bash",
            "Edit",
            "Glob",
            "Grep",
            "Read",
            "Write",
            "TodoWrite",
            "WebFetch",
            "Skill",
            "ToolSearch",
            "NotebookEdit",
        )
    ]
    messages: list[dict] = [
        {"role": "user", "content": [{"type": "text", "text": f"Fix the failing test. {marker}"}]},
        {
            "role": "system",
            "content": "# Environment\n - Primary working directory: /srv/checkout\n - Platform: linux",
        },
    ]
    turn = 0
    while len(json.dumps({"system": system, "tools": tools, "messages": messages})) < target_bytes:
        call_id = f"toolu_{turn:04d}"
        content = [
            {"type": "text", "text": "Let me look at the next file."},
            {
                "type": "tool_use",
                "id": call_id,
                "name": "Read",
                "input": {"file_path": f"/srv/checkout/src/mod{turn}.py"},
            },
        ]
        if seal_reasoning is not None:
            thought = (
                f"Module {turn} is next; its helpers may hold the bug, so read it whole before editing. " * 3
            )
            content.insert(0, {"type": "thinking", "thinking": thought, "signature": seal_reasoning(thought)})
        messages.append({"role": "assistant", "content": content})
        body = "\n".join(f"{n:>5}\tdef function_{turn}_{n}(value):  return value * {n}" for n in range(40))
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": body}]}
        )
        turn += 1
    messages.append({"role": "assistant", "content": [{"type": "text", "text": "Reading done."}]})
    messages.append({"role": "user", "content": "Now summarise."})
    return {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "stream": stream,
        "system": system,
        "tools": tools,
        "messages": messages,
        "metadata": {"user_id": "bench"},
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": []},
        "output_config": {"effort": "medium"},
    }
