"""Scripted faults: error statuses, cut and reset connections and stalls, consumed in order."""

import time

import httpx
import pytest

from .support import CLIENT, chunks_of, post, reassemble, request, stream_lines


def test_429_with_retry_after_then_success(scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "rl", "turns": [{"text": "finally", "faults": [{"status": 429, "retry_after": 1}]}]}
    )
    first = post(scripted_gateway, request("rl"))
    assert first.status_code == 429
    assert first.headers["retry-after"] == "1"
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    second = post(scripted_gateway, request("rl"))
    assert second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"] == "finally"
    statuses = [(e["status"], e["fault"]) for e in scripted_gateway.requests()]
    assert statuses == [(429, {"status": 429, "retry_after": 1.0}), (200, None)]
    # only the served answer is billed
    assert scripted_gateway.usage()["total"]["calls"] == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_without_retry_after(scripted_gateway, status):
    scripted_gateway.add_scenario({"name": "se", "turns": [{"text": "ok", "faults": [{"status": status}]}]})
    r = post(scripted_gateway, request("se", stream=True))
    assert r.status_code == status
    assert "retry-after" not in r.headers
    assert r.json()["error"]["type"] == "server_error"
    assert post(scripted_gateway, request("se")).status_code == 200


def test_faults_are_consumed_in_order_across_conversations(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "seq",
            "turns": [
                {
                    "text": "ok",
                    "faults": [{"status": 503}, {"status": 429, "message": "slow down"}, {"status": 500}],
                }
            ],
        }
    )
    # different conversations (different user text) share the (scenario, turn) counter
    results = [
        post(scripted_gateway, request("seq", {"role": "user", "content": f"conv {i}"})) for i in range(4)
    ]
    assert [r.status_code for r in results] == [503, 429, 500, 200]
    assert results[1].json()["error"]["message"] == "slow down"


def test_replacing_a_scenario_restarts_its_faults(scripted_gateway):
    scenario = {"name": "again", "turns": [{"text": "ok", "faults": [{"status": 500}]}]}
    scripted_gateway.add_scenario(scenario)
    assert post(scripted_gateway, request("again")).status_code == 500
    scripted_gateway.add_scenario(scenario)
    assert post(scripted_gateway, request("again")).status_code == 500
    assert post(scripted_gateway, request("again")).status_code == 200


def test_cut_stream_has_no_done_and_breaks(scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "cut", "turns": [{"text": "a long enough answer", "faults": [{"cut_after_chunks": 2}]}]}
    )
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        with CLIENT.stream(
            "POST", scripted_gateway.url + "/chat/completions", json=request("cut", stream=True), timeout=10
        ) as r:
            assert r.status_code == 200
            received.extend(line for line in r.iter_lines() if line)
    assert len(received) == 2
    assert "data: [DONE]" not in received
    # the next request plays the turn in full
    out = reassemble(chunks_of(stream_lines(scripted_gateway, request("cut"))))
    assert out["text"] == "a long enough answer"
    assert scripted_gateway.usage()["total"]["calls"] == 1
    assert [e["fault"] for e in scripted_gateway.requests()] == [{"cut_after_chunks": 2}, None]


def test_cut_non_stream_body_is_incomplete(scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "cutjson", "turns": [{"text": "x" * 200, "faults": [{"cut_after_chunks": 0}]}]}
    )
    with pytest.raises(httpx.RemoteProtocolError):
        post(scripted_gateway, request("cutjson"))
    assert post(scripted_gateway, request("cutjson")).json()["choices"][0]["message"]["content"] == "x" * 200


def test_stall_delays_the_answer(scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "slow", "turns": [{"text": "late", "faults": [{"stall_ms": 300}]}]}
    )
    with pytest.raises(httpx.ReadTimeout):
        CLIENT.post(scripted_gateway.url + "/chat/completions", json=request("slow"), timeout=0.1)
    start = time.monotonic()
    assert post(scripted_gateway, request("slow")).json()["choices"][0]["message"]["content"] == "late"
    assert time.monotonic() - start < 0.25  # the stall was consumed by the first request


def test_delay_between_chunks(scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "paced", "turns": [{"text": "abcdef", "chunks": 3, "delay_ms": 40}]}
    )
    start = time.monotonic()
    lines = stream_lines(scripted_gateway, request("paced"))
    # role + 3 content + final + [DONE] = 6 lines, 5 gaps of 40 ms
    assert len(lines) == 6
    assert time.monotonic() - start >= 0.2


def test_reset_drops_the_connection_without_an_answer(scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "rst", "turns": [{"text": "after the reset", "faults": [{"reset": True}]}]}
    )
    with httpx.Client(timeout=10) as fresh:  # its own connection: the reset must not break the shared pool
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as caught:
            fresh.post(scripted_gateway.url + "/chat/completions", json=request("rst", stream=True))
    # An RST, not an orderly close: the client sees "connection reset", not an early end of data.
    assert isinstance(caught.value, httpx.ReadError), repr(caught.value)
    out = reassemble(chunks_of(stream_lines(scripted_gateway, request("rst"))))
    assert out["text"] == "after the reset"
    assert [(e["status"], e["fault"]) for e in scripted_gateway.requests()] == [
        (0, {"reset": True}),
        (200, None),
    ]
    assert scripted_gateway.usage()["total"]["calls"] == 1
