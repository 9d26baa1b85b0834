"""Per-job-token limits on the real adapter: past its requests in flight or its rate, 429 rate_limit_error
with retry-after."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from farm_core.job_tokens import mint_job_token

SLOW = {"name": "slow", "turns": [{"text": "one two three four", "chunks": 4, "delay_ms": 700}]}


def ask(adapter, token: str, scenario: str = "slow", stream: bool = True) -> httpx.Response:
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": stream,
        "messages": [{"role": "user", "content": f"[[scenario:{scenario}]]"}],
    }
    return httpx.post(adapter.url + "/v1/messages", headers={"x-api-key": token}, json=body, timeout=30)


def test_over_concurrency_is_a_429_for_that_token_only(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario(SLOW)
    adapter = start_adapter(scripted_gateway.url, ADAPTER_JOB_MAX_CONCURRENT="2")
    greedy, other = (mint_job_token(job, adapter.token, ttl_s=600) for job in ("greedy", "other"))
    streaming = threading.Barrier(3)

    def hold() -> httpx.Response:
        body = {
            "model": "m",
            "max_tokens": 5,
            "stream": True,
            "messages": [{"role": "user", "content": "[[scenario:slow]]"}],
        }
        with httpx.stream(
            "POST", adapter.url + "/v1/messages", headers={"x-api-key": greedy}, json=body, timeout=30
        ) as response:
            lines = response.iter_lines()
            next(lines)  # the stream has started: its slot is taken
            streaming.wait()
            list(lines)
        return response

    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(hold) for _ in range(2)]
        streaming.wait(timeout=20)
        refused = ask(adapter, greedy)
        served_other = ask(adapter, other)
        assert [h.result().status_code for h in held] == [200, 200]

    assert refused.status_code == 429
    assert refused.json()["type"] == "error" and refused.json()["error"]["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) >= 1
    assert served_other.status_code == 200
    assert ask(adapter, greedy).status_code == 200  # the streams ended: their slots are free again


def test_over_rate_is_a_429_with_retry_after(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario({"name": "fast", "turns": [{"text": "ok"}]})
    adapter = start_adapter(scripted_gateway.url, ADAPTER_JOB_RATE_PER_MIN="6", ADAPTER_JOB_BURST="3")
    job = mint_job_token("chatty", adapter.token, ttl_s=600)

    statuses = [ask(adapter, job, "fast", stream=False).status_code for _ in range(4)]
    refused = ask(adapter, job, "fast", stream=False)

    assert statuses == [200, 200, 200, 429]
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    # the farm's own token is not a job's
    assert ask(adapter, adapter.token, "fast", stream=False).status_code == 200
    assert len(scripted_gateway.requests()) == 4


def test_the_defaults_do_not_bother_a_busy_claude_code_job(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario({"name": "turns", "turns": [{"text": "ok", "chunks": 2, "delay_ms": 200}]})
    adapter = start_adapter(scripted_gateway.url)
    job = mint_job_token("busy", adapter.token, ttl_s=600)

    with ThreadPoolExecutor(6) as pool:  # main agent and subagents side by side, then one after another
        parallel = list(pool.map(lambda _: ask(adapter, job, "turns").status_code, range(6)))
    sequential = [ask(adapter, job, "turns", stream=False).status_code for _ in range(30)]

    assert parallel == [200] * 6
    assert sequential == [200] * 30
