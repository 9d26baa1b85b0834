"""The adapter's Prometheus endpoint and the job attribution of its metrics rows."""

import json

import anthropic
import httpx
from prometheus_client.parser import text_string_to_metric_families

from adapter.app import create_app
from adapter.metrics import MetricsFile, UpstreamCallRow
from adapter.settings import AdapterSettings
from adapter.upstream import UpstreamClient
from farm_core.job_tokens import mint_job_token

TOKEN = "prom-token-0123456789abcdef"
JOB = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 50, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 30}},
}
REQUEST = {"model": "claude-opus-5-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of an exposition text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def app_with(upstream_status: int, metrics_path) -> object:
    def answer(request: httpx.Request) -> httpx.Response:
        return (
            httpx.Response(200, json=COMPLETION)
            if upstream_status == 200
            else httpx.Response(upstream_status, json={"error": {"message": "down"}})
        )

    settings = AdapterSettings(
        ADAPTER_TOKENS=TOKEN,
        ONEAPI_BASE_URL="http://upstream.invalid/v1",
        CLAUDE_MODEL="backend-x",
        ADAPTER_RETRIES=0,
    )
    upstream = UpstreamClient(
        settings, MetricsFile(metrics_path), httpx.AsyncClient(transport=httpx.MockTransport(answer))
    )
    return create_app(settings, upstream)


async def test_metrics_endpoint_counts_calls_tokens_and_latency_without_a_token(tmp_path):
    metrics_path = tmp_path / "metrics.jsonl"
    job_token = mint_job_token(JOB, TOKEN, 600)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_with(200, metrics_path)), base_url="http://adapter"
    ) as client:
        for token in (job_token, TOKEN):
            assert (
                await client.post("/v1/messages", json=REQUEST, headers={"x-api-key": token})
            ).status_code == 200
        exposed = await client.get("/metrics")

    assert exposed.status_code == 200 and exposed.headers["content-type"].startswith("text/plain")
    found = samples(exposed.text)
    calls = (
        "codex_farm_adapter_upstream_requests_total",
        (("model", "backend-x"), ("route", "primary"), ("status", "200")),
    )
    assert found[calls] == 2
    for kind, per_call in (("input", 20), ("cached", 30), ("output", 7)):
        assert (
            found[("codex_farm_adapter_tokens_total", (("kind", kind), ("model", "backend-x")))]
            == 2 * per_call
        )
    assert (
        found[
            (
                "codex_farm_adapter_upstream_latency_seconds_count",
                (("model", "backend-x"), ("route", "primary")),
            )
        ]
        == 2
    )
    assert TOKEN not in exposed.text and JOB not in exposed.text and "client" not in exposed.text

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines()]
    assert [(r["job"], r["client"]) for r in rows] == [(JOB, f"job:{JOB}"), ("", rows[1]["client"])]
    assert rows[1]["client"].startswith("client-")
    assert [(r["route"], r["input_tokens"], r["cached_tokens"], r["output_tokens"]) for r in rows] == [
        ("primary", 20, 30, 7)
    ] * 2


async def test_failed_upstream_calls_are_counted_by_status(tmp_path):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_with(503, None)), base_url="http://adapter"
    ) as client:
        response = await client.post("/v1/messages", json=REQUEST, headers={"x-api-key": TOKEN})
        exposed = await client.get("/metrics")

    assert response.status_code >= 500
    found = samples(exposed.text)
    assert (
        found[
            (
                "codex_farm_adapter_upstream_requests_total",
                (("model", "backend-x"), ("route", "primary"), ("status", "503")),
            )
        ]
        == 1
    )


def test_row_job_comes_from_the_client_label():
    assert UpstreamCallRow("m", "primary", 200, 1.0, False, "job:abc").job == "abc"
    assert UpstreamCallRow("m", "fallback", 200, 1.0, False, "client-12345678").job == ""


def test_adapter_process_serves_metrics_of_a_scripted_call(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario(
        {
            "name": "prom",
            "turns": [
                {
                    "text": "Counted.",
                    "usage": {"prompt_tokens": 900, "completion_tokens": 11, "cached_tokens": 600},
                }
            ],
        }
    )
    adapter = start_adapter(scripted_gateway.url)
    client = anthropic.Anthropic(base_url=adapter.url, api_key=adapter.token, max_retries=0, timeout=20)

    message = client.messages.create(
        model="claude-opus-5-5", max_tokens=100, messages=[{"role": "user", "content": "[[scenario:prom]]"}]
    )
    exposed = httpx.get(adapter.url + "/metrics", timeout=5)

    assert message.content[0].text == "Counted."
    assert exposed.status_code == 200
    model = adapter.metrics_rows()[-1]["model"]
    found = samples(exposed.text)
    assert (
        found[
            (
                "codex_farm_adapter_upstream_requests_total",
                (("model", model), ("route", "primary"), ("status", "200")),
            )
        ]
        == 1
    )
    assert found[("codex_farm_adapter_tokens_total", (("kind", "input"), ("model", model)))] == 300
    assert found[("codex_farm_adapter_tokens_total", (("kind", "cached"), ("model", model)))] == 600
    assert found[("codex_farm_adapter_tokens_total", (("kind", "output"), ("model", model)))] == 11
    assert adapter.token not in exposed.text
