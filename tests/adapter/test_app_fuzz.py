"""The adapter app under fuzzing: no well-typed request ever gets a 500, streaming or not."""

import json

import httpx
from hypothesis import given

from adapter.app import create_app
from adapter.metrics import MetricsFile
from adapter.settings import AdapterSettings
from adapter.upstream import UpstreamClient
from tests.fixtures.anthropic_strategies import requests
from tests.fixtures.hypothesis_profiles import fuzz_settings

TOKEN = "fuzz-token-0123456789"
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1},
}
CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "o"}}]},
    {"choices": [{"index": 0, "delta": {"content": "k"}, "finish_reason": "stop"}]},
]


def fake_upstream(request: httpx.Request) -> httpx.Response:
    """An OpenAI endpoint answering every well-formed request (the app's own validation is under test)."""
    body = json.loads(request.content)
    if body.get("stream"):
        stream = "".join(f"data: {json.dumps(c)}\n\n" for c in CHUNKS) + "data: [DONE]\n\n"
        return httpx.Response(200, content=stream.encode(), headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json=COMPLETION)


def fuzz_app():
    settings = AdapterSettings(ADAPTER_TOKENS=TOKEN, ONEAPI_BASE_URL="http://upstream.invalid/v1")
    upstream = UpstreamClient(
        settings, MetricsFile(None), httpx.AsyncClient(transport=httpx.MockTransport(fake_upstream))
    )
    return create_app(settings, upstream)


APP = fuzz_app()


@fuzz_settings(300)  # HYPOTHESIS_PROFILE=deep: 5000 random ones
@given(requests())
async def test_no_well_typed_request_gets_a_500(raw):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://adapter") as client:
        response = await client.post("/v1/messages?beta=true", json=raw, headers={"x-api-key": TOKEN})
        assert response.status_code in (200, 400), response.text
        if response.status_code == 200 and raw.get("stream"):
            assert "event: message_stop" in response.text
        counted = await client.post(
            "/v1/messages/count_tokens",
            json={k: v for k, v in raw.items() if k != "max_tokens"},
            headers={"x-api-key": TOKEN},
        )
        assert counted.status_code in (200, 400), counted.text
