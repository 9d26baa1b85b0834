"""Scripted turns come back exactly as written, streamed or not."""

import json

import pytest

from .support import (
    CLIENT,
    assistant_call,
    chunks_of,
    post,
    reassemble,
    request,
    stream_lines,
    tool_result,
    user,
)

CWD_SYSTEM = {
    "role": "system",
    "content": "You are Claude Code.\nPrimary working directory: /srv/repo-1\nIs git repo: yes",
}


def test_non_stream_text(scripted_gateway):
    scripted_gateway.add_scenario({"name": "hi", "turns": [{"text": "Hello there."}]})
    r = post(scripted_gateway, request("hi", model="deepseek-chat"))
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["model"] == "deepseek-chat"
    (choice,) = data["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hello there."
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    assert (
        data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )


def test_non_stream_tool_calls_and_reasoning(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "t",
            "turns": [
                {
                    "reasoning": "need to list",
                    "tool_calls": [{"name": "Bash", "arguments": {"command": "ls -la"}, "id": "call_fixed"}],
                }
            ],
        }
    )
    message = post(scripted_gateway, request("t")).json()["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"]["content"] is None
    assert message["message"]["reasoning_content"] == "need to list"
    assert message["message"]["tool_calls"] == [
        {
            "id": "call_fixed",
            "type": "function",
            "function": {"name": "Bash", "arguments": '{"command": "ls -la"}'},
        }
    ]


def test_stream_reasoning_and_text_reassemble(scripted_gateway):
    reasoning, text = "Let me think about {braces} and unicode é…", "The answer is 42, as computed."
    scripted_gateway.add_scenario(
        {"name": "s", "turns": [{"reasoning": reasoning, "text": text, "chunks": 4}]}
    )
    chunks = chunks_of(stream_lines(scripted_gateway, request("s")))
    first = chunks[0]["choices"][0]
    assert first["delta"]["role"] == "assistant" and first["finish_reason"] is None
    reasoning_chunks = [c for c in chunks if c["choices"] and "reasoning_content" in c["choices"][0]["delta"]]
    content_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(reasoning_chunks) == 4 and len(content_chunks) == 4
    # reasoning is streamed entirely before the answer text
    assert chunks.index(reasoning_chunks[-1]) < chunks.index(content_chunks[0])
    out = reassemble(chunks)
    assert (out["reasoning"], out["text"], out["finish_reason"]) == (reasoning, text, "stop")
    last = chunks[-1]["choices"][0]
    assert last["delta"] == {} and last["finish_reason"] == "stop"
    assert len({c["id"] for c in chunks}) == 1
    assert all("usage" not in c for c in chunks)  # no include_usage requested


def test_stream_tool_arguments_split_and_reassembled(scripted_gateway):
    args = {"file_path": "/a/b.py", "content": "def f():\n    return {'x': 1}\n", "n": [1, 2.5, None, True]}
    scripted_gateway.add_scenario(
        {"name": "w", "turns": [{"tool_calls": [{"name": "Write", "arguments": args}], "chunks": 5}]}
    )
    chunks = chunks_of(stream_lines(scripted_gateway, request("w")))
    call_deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    header, pieces = call_deltas[0], call_deltas[1:]
    assert header["index"] == 0 and header["type"] == "function" and header["id"].startswith("call_")
    assert header["function"] == {"name": "Write", "arguments": ""}
    assert len(pieces) == 5
    assert all(set(p) == {"index", "function"} and set(p["function"]) == {"arguments"} for p in pieces)
    out = reassemble(chunks)
    assert json.loads(out["calls"][0]["arguments"]) == args
    assert out["finish_reason"] == "tool_calls"


def test_first_chunk_args_puts_a_piece_in_the_header(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "f",
            "turns": [
                {"tool_calls": [{"name": "Read", "arguments": {"file_path": "/x"}}], "first_chunk_args": True}
            ],
        }
    )
    chunks = chunks_of(stream_lines(scripted_gateway, request("f")))
    call_deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert call_deltas[0]["function"]["arguments"] != ""
    assert json.loads(reassemble(chunks)["calls"][0]["arguments"]) == {"file_path": "/x"}


def test_parallel_tool_calls_are_indexed_and_interleaved(scripted_gateway):
    calls = [
        {"name": "Read", "arguments": {"file_path": "/one.txt"}},
        {"name": "Glob", "arguments": {"pattern": "**/*.py"}},
        {"name": "Bash", "arguments": '{"command": "pwd"}'},
    ]
    scripted_gateway.add_scenario({"name": "p", "turns": [{"text": "Reading.", "tool_calls": calls}]})
    chunks = chunks_of(stream_lines(scripted_gateway, request("p")))
    indexes = [
        c["choices"][0]["delta"]["tool_calls"][0]["index"]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    # round-robin: headers 0,1,2 then argument pieces 0,1,2 repeatedly
    assert indexes == [0, 1, 2] * 4
    out = reassemble(chunks)
    assert [out["calls"][i]["name"] for i in range(3)] == ["Read", "Glob", "Bash"]
    assert json.loads(out["calls"][0]["arguments"]) == {"file_path": "/one.txt"}
    assert json.loads(out["calls"][1]["arguments"]) == {"pattern": "**/*.py"}
    assert out["calls"][2]["arguments"] == '{"command": "pwd"}'
    assert len({out["calls"][i]["id"] for i in range(3)}) == 3
    assert out["text"] == "Reading."


def test_cwd_substitution_in_text_and_nested_arguments(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "c",
            "turns": [
                {
                    "text": "Working in {cwd}; keep {other} and {{cwd}} braces.",
                    "tool_calls": [
                        {
                            "name": "Write",
                            "arguments": {"file_path": "{cwd}/out.txt", "meta": {"paths": ["{cwd}/a", 3]}},
                        }
                    ],
                }
            ],
        }
    )
    message = post(scripted_gateway, request("c", CWD_SYSTEM)).json()["choices"][0]["message"]
    assert message["content"] == "Working in /srv/repo-1; keep {other} and {/srv/repo-1} braces."
    args = json.loads(message["tool_calls"][0]["function"]["arguments"])
    assert args == {"file_path": "/srv/repo-1/out.txt", "meta": {"paths": ["/srv/repo-1/a", 3]}}


def test_cwd_template_without_stated_cwd_is_400(scripted_gateway):
    scripted_gateway.add_scenario({"name": "c", "turns": [{"text": "in {cwd}"}]})
    r = post(scripted_gateway, request("c"))
    assert r.status_code == 400
    assert "Primary working directory" in r.json()["error"]["message"]


def test_turn_index_is_the_number_of_assistant_messages(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "multi",
            "turns": [
                {"tool_calls": [{"name": "Bash", "arguments": {"command": "ls"}}]},
                {"text": "second"},
                {"text": "third"},
            ],
        }
    )
    first = post(scripted_gateway, request("multi")).json()["choices"][0]["message"]
    assert first["tool_calls"][0]["function"]["name"] == "Bash"
    history = [assistant_call("call_1", "Bash", {"command": "ls"}), tool_result("call_1", "a.txt")]
    assert (
        post(scripted_gateway, request("multi", *history)).json()["choices"][0]["message"]["content"]
        == "second"
    )
    # a retry of the same request replays the same turn: no hidden per-conversation state
    assert (
        post(scripted_gateway, request("multi", *history)).json()["choices"][0]["message"]["content"]
        == "second"
    )
    more = [*history, {"role": "assistant", "content": "second"}, user("and?")]
    assert (
        post(scripted_gateway, request("multi", *more)).json()["choices"][0]["message"]["content"] == "third"
    )
    r = post(
        scripted_gateway, request("multi", *more, {"role": "assistant", "content": "third"}, user("more"))
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("scenario multi has no turn 3")
    assert [(e["scenario"], e["turn"], e["status"]) for e in scripted_gateway.requests()] == [
        ("multi", 0, 200),
        ("multi", 1, 200),
        ("multi", 1, 200),
        ("multi", 2, 200),
        ("multi", 3, 400),
    ]


def test_scenario_selection_marker_default_and_missing(scripted_gateway):
    scripted_gateway.add_scenario({"name": "a", "turns": [{"text": "from a"}]})
    scripted_gateway.add_scenario({"name": "b", "turns": [{"text": "from b"}]})
    marked_in_part = {
        "role": "user",
        "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "[[scenario:b]]"}],
    }
    assert (
        post(scripted_gateway, request(None, marked_in_part)).json()["choices"][0]["message"]["content"]
        == "from b"
    )
    r = post(scripted_gateway, request(None, user("no marker")))
    assert r.status_code == 400 and "[[scenario:NAME]]" in r.json()["error"]["message"]
    scripted_gateway.configure(default_scenario="a")
    assert (
        post(scripted_gateway, request(None, user("no marker"))).json()["choices"][0]["message"]["content"]
        == "from a"
    )
    r = post(scripted_gateway, request("nope"))
    assert r.status_code == 400 and "Unknown scenario 'nope'" in r.json()["error"]["message"]


def test_forced_finish_reason_and_matched_stop(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "len",
            "turns": [{"text": "truncated answ", "finish_reason": "length", "matched_stop": "</done>"}],
        }
    )
    choice = post(scripted_gateway, request("len")).json()["choices"][0]
    assert (choice["finish_reason"], choice["stop_reason"]) == ("length", "</done>")
    chunks = chunks_of(stream_lines(scripted_gateway, request("len")))
    last = chunks[-1]["choices"][0]
    assert (last["finish_reason"], last["stop_reason"]) == ("length", "</done>")


def test_include_usage_adds_a_final_usage_chunk(scripted_gateway):
    scripted_gateway.add_scenario({"name": "u", "turns": [{"text": "abcdefghijklmnop"}]})
    body = request("u", stream_options={"include_usage": True})
    chunks = chunks_of(stream_lines(scripted_gateway, body))
    *regular, usage_chunk = chunks
    assert usage_chunk["choices"] == []
    assert all(c["usage"] is None and len(c["choices"]) == 1 for c in regular)
    prompt = len(json.dumps(body["messages"])) // 4
    assert usage_chunk["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": 4,
        "total_tokens": prompt + 4,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


@pytest.mark.parametrize("stream", [False, True])
def test_deepseek_cache_style(scripted_gateway, stream):
    scripted_gateway.add_scenario(
        {
            "name": "d",
            "turns": [
                {
                    "text": "ok",
                    "cache_style": "deepseek",
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 7, "cached_tokens": 640},
                }
            ],
        }
    )
    if stream:
        usage = chunks_of(
            stream_lines(scripted_gateway, request("d", stream_options={"include_usage": True}))
        )[-1]["usage"]
    else:
        usage = post(scripted_gateway, request("d")).json()["usage"]
    assert usage == {
        "prompt_tokens": 1000,
        "completion_tokens": 7,
        "total_tokens": 1007,
        "prompt_cache_hit_tokens": 640,
        "prompt_cache_miss_tokens": 360,
    }


def test_openai_cache_style_override(scripted_gateway):
    scripted_gateway.add_scenario({"name": "o", "turns": [{"text": "ok", "usage": {"cached_tokens": 5}}]})
    usage = post(scripted_gateway, request("o")).json()["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 5}
    assert usage["completion_tokens"] == 1  # "ok" is shorter than one 4-char token: floor of 1


def test_expect_substring(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "e",
            "turns": [
                {"tool_calls": [{"name": "Bash", "arguments": {"command": "cat x"}}]},
                {"expect": ["SECRET-CONTENT-42", "{cwd}/x"], "text": "saw it"},
            ],
        }
    )
    good = [
        CWD_SYSTEM,
        assistant_call("call_1", "Bash", {"command": "cat x"}),
        tool_result("call_1", "/srv/repo-1/x: SECRET-CONTENT-42"),
    ]
    assert post(scripted_gateway, request("e", *good)).json()["choices"][0]["message"]["content"] == "saw it"
    bad = [
        CWD_SYSTEM,
        assistant_call("call_1", "Bash", {"command": "cat x"}),
        tool_result("call_1", "/srv/repo-1/x: empty"),
    ]
    r = post(scripted_gateway, request("e", *bad))
    assert r.status_code == 400
    assert "'SECRET-CONTENT-42'" in r.json()["error"]["message"] and "turn 1" in r.json()["error"]["message"]


def test_models_endpoint_and_routes_without_v1(scripted_gateway):
    data = CLIENT.get(scripted_gateway.url + "/models").json()
    assert data["object"] == "list" and [m["id"] for m in data["data"]] == ["scripted-model"]
    scripted_gateway.add_scenario({"name": "hi", "turns": [{"text": "root path"}]})
    r = CLIENT.post(scripted_gateway.base_url + "/chat/completions", json=request("hi"))
    assert r.json()["choices"][0]["message"]["content"] == "root path"
