"""Flaky gateways: retries with Retry-After, the fallback gateway, streams cut mid-way."""

import anthropic
import httpx
import pytest

from tests.fixtures.processes import free_port
from tests.fixtures.waiting import wait_until

FINAL = {"text": "All done."}


@pytest.mark.cli
def test_claude_code_completes_through_two_429s(scripted_gateway, start_adapter, make_repo, run_claude):
    faults = [{"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1}]
    scripted_gateway.add_scenario({"name": "rate_limited", "turns": [{**FINAL, "faults": faults}]})
    adapter = start_adapter(scripted_gateway.url)

    run = run_claude("Say done. [[scenario:rate_limited]]", make_repo(), adapter.url, adapter.token)

    assert run.final_result()["result"] == "All done."
    statuses = [r["status"] for r in scripted_gateway.requests() if r["scenario"] == "rate_limited"]
    assert statuses == [429, 429, 200]
    rows = adapter.metrics_rows()
    assert [r["status"] for r in rows] == [429, 429, 200]
    assert all(r["route"] == "primary" for r in rows)


@pytest.mark.cli
def test_fallback_serves_when_primary_is_down(scripted_gateway, start_adapter, make_repo, run_claude):
    scripted_gateway.add_scenario({"name": "fallback", "turns": [FINAL]})
    dead_primary = f"http://127.0.0.1:{free_port()}/v1"
    adapter = start_adapter(
        dead_primary,
        FALLBACK_BASE_URL=scripted_gateway.url,
        FALLBACK_API_KEY="sk-fallback-0123456789",
        FALLBACK_MODEL="backup-model",
        ADAPTER_RETRIES="1",
    )

    run = run_claude("Say done. [[scenario:fallback]]", make_repo(), adapter.url, adapter.token)

    assert run.final_result()["result"] == "All done."
    rows = adapter.metrics_rows()
    assert [(r["route"], r["status"]) for r in rows] == [("primary", 0), ("primary", 0), ("fallback", 200)]
    assert rows[-1]["model"] == "backup-model" and rows[-1]["output_tokens"] > 0
    served = scripted_gateway.requests()[-1]
    assert served["body"]["model"] == "backup-model"
    assert served["headers"]["authorization"] != "Bearer sk-fallback-0123456789"  # masked in the record


def test_stream_cut_midway_becomes_an_error_event(scripted_gateway, start_adapter):
    text = "word " * 40
    scripted_gateway.add_scenario(
        {"name": "cut", "turns": [{"text": text, "chunks": 10, "faults": [{"cut_after_chunks": 4}]}]}
    )
    adapter = start_adapter(scripted_gateway.url)
    client = anthropic.Anthropic(base_url=adapter.url, api_key=adapter.token, max_retries=0, timeout=20)

    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(
            model="claude-opus-5-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "[[scenario:cut]]"}],
        ) as stream:
            for _ in stream:
                pass
    assert "upstream stream failed" in str(raised.value)
    # The row is written as the adapter closes the upstream call, just after the error event went out.
    assert wait_until(lambda: len(adapter.metrics_rows()) == 1, timeout=10)
    assert adapter.metrics_rows()[0]["error"]


def test_upstream_bad_request_maps_to_invalid_request_error(scripted_gateway, start_adapter):
    adapter = start_adapter(scripted_gateway.url)  # no scenario registered: the gateway answers 400
    response = httpx.post(
        adapter.url + "/v1/messages?beta=true",
        headers={"x-api-key": adapter.token},
        json={"model": "claude-opus-5-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_malformed_request_is_a_400_not_a_500(scripted_gateway, start_adapter):
    adapter = start_adapter(scripted_gateway.url)
    for body in (b"not json", b"{}", b'{"model": "x", "max_tokens": "many", "messages": []}'):
        response = httpx.post(
            adapter.url + "/v1/messages", headers={"x-api-key": adapter.token}, content=body
        )
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert scripted_gateway.requests() == []


def test_keys_and_tokens_never_reach_the_adapter_log(scripted_gateway, start_adapter):
    from tests.fixtures.adapter import GATEWAY_KEY

    scripted_gateway.add_scenario(
        {
            "name": "logged",
            "turns": [{**FINAL, "faults": [{"status": 500, "message": f"bad key {GATEWAY_KEY}"}]}],
        }
    )
    adapter = start_adapter(scripted_gateway.url)
    for token in (adapter.token, "wrong-token-abcdef"):
        httpx.post(
            adapter.url + "/v1/messages",
            headers={"authorization": f"Bearer {token}"},
            json={
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": f"[[scenario:logged]] {GATEWAY_KEY}"}],
            },
        )
    log = adapter.server.log()
    assert "upstream primary failed" in log  # the 500 was logged...
    assert GATEWAY_KEY not in log and adapter.token not in log  # ...with every secret masked


def test_a_silent_stream_ends_with_an_error_event_not_a_hang(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario(
        {"name": "silent", "turns": [{"text": "one two three", "chunks": 3, "delay_ms": 4000}]}
    )
    adapter = start_adapter(scripted_gateway.url, ADAPTER_STREAM_IDLE_TIMEOUT_S="1")
    body = {
        "model": "m",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "[[scenario:silent]]"}],
    }

    with httpx.stream(
        "POST", adapter.url + "/v1/messages", headers={"x-api-key": adapter.token}, json=body, timeout=30
    ) as response:
        events = [
            line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")
        ]

    assert events[0] == "message_start"
    assert events[-1] == "error"
    assert "message_stop" not in events
