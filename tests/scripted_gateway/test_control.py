"""Auth, request recording, usage totals and the /_control/ endpoints."""

import json

import httpx

from scripted_gateway import run_in_thread

from .support import CLIENT, chunks_of, post, request, stream_lines


def test_auth_required_when_api_key_set(scripted_gateway):
    scripted_gateway.add_scenario({"name": "a", "turns": [{"text": "ok"}]})
    scripted_gateway.configure(api_key="sk-test-123")
    missing = post(scripted_gateway, request("a"))
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    wrong = post(scripted_gateway, request("a"), headers={"Authorization": "Bearer sk-other"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "invalid_request_error"
    assert CLIENT.get(scripted_gateway.url + "/models").status_code == 401
    good = post(scripted_gateway, request("a"), headers={"Authorization": "Bearer sk-test-123"})
    assert good.status_code == 200
    recorded = scripted_gateway.requests()
    assert [e["status"] for e in recorded] == [401, 401, 200]
    assert recorded[1]["headers"]["authorization"] == "Bearer ***"
    assert "sk-test-123" not in json.dumps(recorded) and "sk-other" not in json.dumps(recorded)


def test_requests_record_body_headers_scenario_and_turn(scripted_gateway):
    scripted_gateway.add_scenario({"name": "r", "turns": [{"text": "ok"}]})
    body = request("r", temperature=0.5)
    post(scripted_gateway, body, headers={"X-Trace": "t-1", "x-api-key": "secret-value"})
    (entry,) = scripted_gateway.requests()
    assert entry["body"] == body
    assert entry["headers"]["x-trace"] == "t-1"
    assert entry["headers"]["x-api-key"] == "***"
    assert (entry["scenario"], entry["turn"], entry["status"], entry["error"], entry["fault"]) == (
        "r",
        0,
        200,
        None,
        None,
    )
    assert entry["path"] == "/v1/chat/completions"
    over_http = CLIENT.get(scripted_gateway.base_url + "/_control/requests").json()["requests"]
    assert over_http == [entry]


def test_usage_totals_overall_and_per_scenario(scripted_gateway):
    scripted_gateway.add_scenario(
        {
            "name": "x",
            "turns": [
                {"text": "ok", "usage": {"prompt_tokens": 100, "completion_tokens": 10, "cached_tokens": 60}}
            ],
        }
    )
    scripted_gateway.add_scenario({"name": "y", "turns": [{"text": "abcdefgh"}]})
    post(scripted_gateway, request("x"))
    chunks_of(stream_lines(scripted_gateway, request("x")))
    y_body = request("y")
    post(scripted_gateway, y_body)
    post(scripted_gateway, request("y", temperature=9))  # rejected: not counted
    y_prompt = len(json.dumps(y_body["messages"])) // 4
    expected = {
        "total": {"prompt_tokens": 200 + y_prompt, "completion_tokens": 22, "cached_tokens": 120, "calls": 3},
        "per_scenario": {
            "x": {"prompt_tokens": 200, "completion_tokens": 20, "cached_tokens": 120, "calls": 2},
            "y": {"prompt_tokens": y_prompt, "completion_tokens": 2, "cached_tokens": 0, "calls": 1},
        },
    }
    assert scripted_gateway.usage() == expected
    assert CLIENT.get(scripted_gateway.base_url + "/_control/usage").json() == expected


def test_without_report_tokens_every_count_is_zero_even_a_scripted_override(scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "free", "turns": [{"text": "ok", "usage": {"prompt_tokens": 100, "cached_tokens": 60}}]}
    )
    scripted_gateway.configure(report_tokens=False)
    answered = post(scripted_gateway, request("free")).json()["usage"]
    streamed = chunks_of(
        stream_lines(scripted_gateway, request("free", stream_options={"include_usage": True}))
    )[-1]["usage"]
    zero = {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert answered == zero and streamed == zero
    assert scripted_gateway.usage()["total"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cached_tokens": 0,
        "calls": 2,
    }


def test_control_endpoints_register_list_and_reset(scripted_gateway):
    base = scripted_gateway.base_url
    added = CLIENT.post(
        base + "/_control/scenarios",
        json=[{"name": "h1", "turns": [{"text": "one"}]}, {"name": "h2", "turns": [{"text": "two"}]}],
    )
    assert added.json() == {"added": ["h1", "h2"]}
    names = [s["name"] for s in CLIENT.get(base + "/_control/scenarios").json()["scenarios"]]
    assert names == ["h1", "h2"]
    assert post(scripted_gateway, request("h2")).json()["choices"][0]["message"]["content"] == "two"
    CLIENT.post(base + "/_control/scenarios", json={"name": "h2", "turns": [{"text": "replaced"}]})
    assert post(scripted_gateway, request("h2")).json()["choices"][0]["message"]["content"] == "replaced"
    assert len(scripted_gateway.requests()) == 2
    assert CLIENT.post(base + "/_control/reset").json() == {"reset": True}
    assert scripted_gateway.requests() == [] and scripted_gateway.usage()["total"]["calls"] == 0
    assert post(scripted_gateway, request("h1")).status_code == 200  # plain reset keeps scenarios
    CLIENT.post(base + "/_control/reset", json={"full": True})
    # full reset restores the initial (empty) set
    assert post(scripted_gateway, request("h1")).status_code == 400


def test_invalid_scenario_is_rejected_by_control_endpoint(scripted_gateway):
    r = CLIENT.post(
        scripted_gateway.base_url + "/_control/scenarios", json={"name": "bad", "turns": [{"txt": "typo"}]}
    )
    assert r.status_code == 400
    assert "txt" in r.json()["error"]["message"]
    r = CLIENT.post(
        scripted_gateway.base_url + "/_control/scenarios",
        json={"name": "bad", "turns": [{"faults": [{"status": 500, "stall_ms": 5}]}]},
    )
    assert r.status_code == 400 and "exactly one" in r.json()["error"]["message"]


def test_separate_gateway_with_initial_config_and_scenarios():
    scenario = {"name": "own", "turns": [{"text": "mine"}]}
    with run_in_thread(
        [scenario], api_key="k", default_scenario="own", max_output_tokens=100, models=["m1", "m2"]
    ) as gw:
        assert gw.url.startswith("http://127.0.0.1:") and gw.url.endswith("/v1")
        headers = {"Authorization": "Bearer k"}
        body = {"model": "m1", "messages": [{"role": "user", "content": "no marker"}], "max_tokens": 100}
        assert post(gw, body, headers=headers).json()["choices"][0]["message"]["content"] == "mine"
        assert post(gw, {**body, "max_tokens": 101}, headers=headers).status_code == 400
        models = CLIENT.get(gw.url + "/models", headers=headers).json()
        assert [m["id"] for m in models["data"]] == ["m1", "m2"]
        gw.configure(api_key=None)
        gw.reset(full=True)  # restores the config given at start
        assert post(gw, body).status_code == 401
    # stopped: the port no longer answers
    try:
        CLIENT.get(gw.url + "/models", timeout=1)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("gateway still answering after stop()")


def test_keep_alive_requests_are_not_delayed(scripted_gateway):
    # Without TCP_NODELAY on accepted sockets each pooled request waits ~40 ms for a delayed ACK.
    import time

    scripted_gateway.add_scenario({"name": "fast", "turns": [{"text": "ok"}]})
    post(scripted_gateway, request("fast"))
    start = time.monotonic()
    for _ in range(10):
        assert post(scripted_gateway, request("fast")).status_code == 200
    assert time.monotonic() - start < 0.3


def test_reset_rejects_a_malformed_body(scripted_gateway):
    r = CLIENT.post(scripted_gateway.base_url + "/_control/reset", content=b"[1]")
    assert r.status_code == 400
