"""Scenario files, model validation, shipped examples and the CLI."""

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest
from pydantic import ValidationError

from scripted_gateway import Scenario, builtin_scenarios_dir, load_scenarios, parse_scenarios

from .support import CLIENT, assistant_call, post, request, tool_result


def test_load_single_file_list_file_and_directory(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps({"name": "b", "turns": [{"text": "B"}]}))
    (tmp_path / "a.json").write_text(
        json.dumps([{"name": "a1", "turns": [{"text": "A1"}]}, {"name": "a2", "turns": [{}]}])
    )
    (tmp_path / "notes.txt").write_text("ignored")
    assert [s.name for s in load_scenarios(tmp_path / "b.json")] == ["b"]
    assert [s.name for s in load_scenarios(tmp_path)] == ["a1", "a2", "b"]


def test_turn_defaults():
    (scenario,) = parse_scenarios({"name": "d", "turns": [{"text": "x"}, {"tool_calls": [{"name": "Bash"}]}]})
    text_turn, tool_turn = scenario.turns
    assert (text_turn.chunks, text_turn.delay_ms, text_turn.cache_style) == (3, 0, "openai")
    assert text_turn.effective_finish_reason() == "stop"
    assert tool_turn.effective_finish_reason() == "tool_calls"
    assert tool_turn.tool_calls[0].arguments == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "has space", "turns": [{"text": "x"}]},
        {"name": "empty", "turns": []},
        {"name": "typo", "turns": [{"texts": "x"}]},
        {"name": "fr", "turns": [{"finish_reason": "end_turn"}]},
        {"name": "chunks", "turns": [{"chunks": 0}]},
        {"name": "fault-none", "turns": [{"faults": [{}]}]},
        {"name": "fault-two", "turns": [{"faults": [{"status": 429, "cut_after_chunks": 1}]}]},
        {"name": "fault-retry-on-cut", "turns": [{"faults": [{"cut_after_chunks": 1, "retry_after": 2}]}]},
        {"name": "stall-unbounded", "turns": [{"faults": [{"stall_ms": 10_000_000}]}]},
        {"name": "reset-false", "turns": [{"faults": [{"reset": False}]}]},
        {"name": "reset-and-status", "turns": [{"faults": [{"reset": True, "status": 500}]}]},
        {"name": "reset-retry-after", "turns": [{"faults": [{"reset": True, "retry_after": 1}]}]},
        {"name": "cache", "turns": [{"cache_style": "anthropic"}]},
    ],
)
def test_invalid_scenarios_are_rejected(bad):
    with pytest.raises(ValidationError):
        Scenario.model_validate(bad)


def test_builtin_examples_load_and_play(scripted_gateway):
    scenarios = {s.name: s for s in load_scenarios(builtin_scenarios_dir())}
    assert {"hello", "write_file", "flaky"} <= set(scenarios)
    scripted_gateway.add_scenarios(builtin_scenarios_dir())
    assert (
        post(scripted_gateway, request("hello")).json()["choices"][0]["message"]["content"]
        == "Hello from the scripted gateway."
    )
    system = {"role": "system", "content": "Primary working directory: /srv/demo"}
    first = post(scripted_gateway, request("write_file", system)).json()["choices"][0]["message"]
    call = first["tool_calls"][0]
    assert json.loads(call["function"]["arguments"])["file_path"] == "/srv/demo/hello.txt"
    history = [
        system,
        {
            **assistant_call(call["id"], "Write", json.loads(call["function"]["arguments"])),
            "content": first["content"],
        },
        tool_result(call["id"], "File created successfully at: /srv/demo/hello.txt"),
    ]
    second = post(scripted_gateway, request("write_file", *history)).json()["choices"][0]["message"]
    assert second["content"] == "Created /srv/demo/hello.txt."
    assert [post(scripted_gateway, request("flaky")).status_code for _ in range(3)] == [429, 500, 200]


def test_cli_serves_scenarios(tmp_path):
    scenario_file = tmp_path / "cli.json"
    scenario_file.write_text(json.dumps({"name": "cli", "turns": [{"text": "from the cli"}]}))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scripted_gateway",
            "--port",
            str(port),
            "--scenarios",
            str(scenario_file),
            "--default-scenario",
            "cli",
            "--api-key",
            "k",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        deadline = time.monotonic() + 15
        while True:
            try:
                r = CLIENT.post(url, json=body, headers={"Authorization": "Bearer k"}, timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "CLI gateway did not start"
                time.sleep(0.05)
        assert r.json()["choices"][0]["message"]["content"] == "from the cli"
    finally:
        process.terminate()
        process.wait(timeout=10)
