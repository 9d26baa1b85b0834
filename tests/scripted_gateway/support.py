"""Small client helpers for talking to the scripted gateway in tests."""

import json
from typing import Any

import httpx

from scripted_gateway import GatewayHandle

# One pooled client: building an httpx client per call costs more than the request itself.
CLIENT = httpx.Client(timeout=10)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def request(scenario: str | None, *messages: dict, **extra: Any) -> dict:
    """A minimal valid request whose first user message selects `scenario`."""
    first = [user(f"[[scenario:{scenario}]] go")] if scenario else []
    return {"model": "scripted-model", "messages": first + list(messages), **extra}


def post(gw: GatewayHandle, body: Any, path: str = "/chat/completions", **kwargs: Any) -> httpx.Response:
    return CLIENT.post(gw.url + path, json=body, **kwargs)


def stream_lines(gw: GatewayHandle, body: dict, **kwargs: Any) -> list[str]:
    """The non-empty SSE lines of a streamed answer (raises if the stream breaks)."""
    with CLIENT.stream("POST", gw.url + "/chat/completions", json={**body, "stream": True}, **kwargs) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return [line for line in r.iter_lines() if line]


def chunks_of(lines: list[str]) -> list[dict]:
    """Parsed `data:` payloads, asserting the SSE framing and the final [DONE]; comment lines are skipped."""
    lines = [line for line in lines if not line.startswith(":")]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    return [json.loads(line[len("data: ") :]) for line in lines[:-1]]


def reassemble(chunks: list[dict], reasoning_field: str = "reasoning_content") -> dict:
    """Fold streamed deltas back into one message, the way a careful client does."""
    out: dict = {"role": None, "reasoning": "", "text": "", "calls": {}, "finish_reason": None, "usage": None}
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        if not chunk["choices"]:
            out["usage"] = chunk["usage"]
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        out["role"] = delta.get("role", out["role"])
        out["reasoning"] += delta.get(reasoning_field) or ""
        out["text"] += delta.get("content") or ""
        for call in delta.get("tool_calls") or []:
            slot = out["calls"].setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
            slot["id"] = call.get("id", slot["id"])
            function = call.get("function", {})
            slot["name"] = function.get("name", slot["name"])
            slot["arguments"] += function.get("arguments") or ""
        if choice["finish_reason"] is not None:
            out["finish_reason"] = choice["finish_reason"]
    return out


def assistant_call(call_id: str, name: str, arguments: dict) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def tool_result(call_id: str, content: str) -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": content}
