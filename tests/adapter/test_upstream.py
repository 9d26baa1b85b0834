"""UpstreamClient against scripted gateways (httpx.MockTransport): retries, waits, fallback, metrics,
streams."""

import email.utils
import json
import math
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
from pydantic import AliasChoices

from adapter.errors import UpstreamFailed
from adapter.metrics import MetricsFile, UpstreamCallRow
from adapter.settings import AdapterSettings
from adapter.translate.usage import Usage
from adapter.upstream import StreamCut, UpstreamClient, chat_url, retry_after_s
from adapter.wire.openai_request import ChatRequest, UserMessage

PRIMARY_KEY = "pk-primary-0123456789"
FALLBACK_KEY = "fk-fallback-0123456789"
COMPLETION = {"id": "c1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Gateways:
    """Scripted replies per host, consumed in order; every request is recorded."""

    replies: dict[str, list[Reply]]
    seen: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        reply = self.replies[request.url.host].pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    def calls(self, host: str) -> int:
        return sum(1 for r in self.seen if r.url.host == host)

    def bodies(self, host: str) -> list[dict]:
        return [json.loads(r.content) for r in self.seen if r.url.host == host]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for f in AdapterSettings.model_fields.values():
        alias = f.validation_alias
        for name in alias.choices if isinstance(alias, AliasChoices) else [alias]:
            if isinstance(name, str):
                monkeypatch.delenv(name, raising=False)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Every retry wait the client asks for; nothing actually sleeps."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    return recorded


@pytest.fixture
def metrics_path(tmp_path):
    return tmp_path / "metrics.jsonl"


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def make_client(
    gateways: Gateways, metrics_path=None, *, fallback: bool = False, **overrides
) -> UpstreamClient:
    values = dict(
        upstream_base_url="http://primary.test/v1",
        upstream_api_key=PRIMARY_KEY,
        retries=2,
        retry_max_wait_s=20.0,
    )
    if fallback:
        values.update(fallback_base_url="http://fallback.test/v1", fallback_api_key=FALLBACK_KEY)
    values.update(overrides)
    settings = AdapterSettings(**values)
    http = httpx.AsyncClient(transport=httpx.MockTransport(gateways.handler))
    return UpstreamClient(settings, MetricsFile(metrics_path), http)


def chat(model: str = "primary-model", stream: bool = False) -> ChatRequest:
    return ChatRequest(
        model=model, messages=[UserMessage(content="hi")], max_tokens=64, stream=stream or None
    ).payload()


def status(
    code: int, headers: dict | None = None, body: bytes = b'{"error":{"message":"nope"}}'
) -> httpx.Response:
    return httpx.Response(code, headers=headers or {}, content=body)


def ok() -> httpx.Response:
    return httpx.Response(200, json=COMPLETION)


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")


# ---------------------------------------------------------------- waits


async def test_retry_after_seconds_honoured(waits):
    gw = Gateways(
        {"primary.test": [status(429, {"retry-after": "3"}), status(429, {"retry-after": "0"}), ok()]}
    )
    call = await make_client(gw).open(chat(), client="c")
    assert call.gateway.route == "primary"
    assert await call.json() == COMPLETION
    assert waits == [3.0, 0.0]
    assert gw.calls("primary.test") == 3


async def test_retry_after_http_date_honoured(waits, monkeypatch):
    now = 1_700_000_000.0
    monkeypatch.setattr(
        "adapter.upstream.time", types.SimpleNamespace(time=lambda: now, perf_counter=time.perf_counter)
    )
    later = email.utils.formatdate(now + 7, usegmt=True)
    past = email.utils.formatdate(now - 60, usegmt=True)
    gw = Gateways(
        {"primary.test": [status(503, {"retry-after": later}), status(503, {"retry-after": past}), ok()]}
    )
    await make_client(gw).open(chat(), client="c")
    assert waits == [7.0, 0.0]


async def test_retry_after_capped_by_max_wait(waits):
    gw = Gateways(
        {"primary.test": [status(429, {"retry-after": "120"}), status(429, {"retry-after": "4"}), ok()]}
    )
    await make_client(gw, retry_max_wait_s=5.0).open(chat(), client="c")
    assert waits == [5.0, 4.0]


async def test_exponential_backoff_without_retry_after(waits):
    gw = Gateways({"primary.test": [status(503), status(502), status(500), ok()]})
    await make_client(gw, retries=3).open(chat(), client="c")
    assert waits == [0.5, 1.0, 2.0]


async def test_backoff_capped_by_max_wait(waits):
    gw = Gateways({"primary.test": [status(503)] * 4 + [ok()]})
    await make_client(gw, retries=4, retry_max_wait_s=1.5).open(chat(), client="c")
    assert waits == [0.5, 1.0, 1.5, 1.5]


async def test_nan_retry_after_gives_a_finite_wait(waits):
    gw = Gateways({"primary.test": [status(429, {"retry-after": "nan"}), ok()]})
    await make_client(gw).open(chat(), client="c")
    assert len(waits) == 1 and math.isfinite(waits[0])


# ---------------------------------------------------------------- attempts and fallback


@pytest.mark.parametrize("retries", [0, 1, 2, 5])
async def test_attempts_bounded_by_retries_plus_one(waits, retries):
    gw = Gateways({"primary.test": [status(503)] * (retries + 1)})
    with pytest.raises(UpstreamFailed) as caught:
        await make_client(gw, retries=retries).open(chat(), client="c")
    assert gw.calls("primary.test") == retries + 1
    assert len(waits) == retries
    assert (caught.value.status, caught.value.error_type) == (529, "overloaded_error")
    assert caught.value.message == "primary gateway: upstream returned HTTP 503: nope"


RETRYABLE = [408, 409, 425, 429, 500, 502, 503, 504, 529]


@pytest.mark.parametrize("code", RETRYABLE)
async def test_retryable_statuses_retried_then_sent_to_fallback(waits, code):
    gw = Gateways({"primary.test": [status(code)] * 3, "fallback.test": [ok()]})
    call = await make_client(gw, fallback=True).open(chat(), client="c")
    assert call.gateway.route == "fallback"
    assert (gw.calls("primary.test"), gw.calls("fallback.test"), len(waits)) == (3, 1, 2)


@pytest.mark.parametrize(("code", "returned"), [(400, 400), (402, 402), (413, 413), (422, 400), (418, 500)])
async def test_client_errors_not_retried_and_not_sent_to_fallback(waits, code, returned):
    gw = Gateways({"primary.test": [status(code)], "fallback.test": [ok()]})
    with pytest.raises(UpstreamFailed) as caught:
        await make_client(gw, fallback=True).open(chat(), client="c")
    assert caught.value.status == returned
    assert (gw.calls("primary.test"), gw.calls("fallback.test"), waits) == (1, 0, [])


@pytest.mark.parametrize("code", [401, 403, 404])
async def test_gateway_specific_errors_go_to_fallback_without_retries(waits, code):
    gw = Gateways({"primary.test": [status(code)], "fallback.test": [ok()]})
    call = await make_client(gw, fallback=True).open(chat(), client="c")
    assert call.gateway.route == "fallback"
    assert (gw.calls("primary.test"), gw.calls("fallback.test"), waits) == (1, 1, [])


@pytest.mark.parametrize("code", [401, 403, 404])
async def test_gateway_specific_error_without_fallback_raises_it(waits, code):
    gw = Gateways({"primary.test": [status(code)]})
    with pytest.raises(UpstreamFailed) as caught:
        await make_client(gw).open(chat(), client="c")
    assert caught.value.status == {401: 500, 403: 403, 404: 404}[code]
    assert (gw.calls("primary.test"), waits) == (1, [])


async def test_connect_errors_retried_then_fallback(waits, metrics_path):
    gw = Gateways({"primary.test": [connect_error()] * 3, "fallback.test": [ok()]})
    call = await make_client(gw, metrics_path, fallback=True).open(chat(), client="c")
    assert call.gateway.route == "fallback"
    assert (gw.calls("primary.test"), gw.calls("fallback.test"), waits) == (3, 1, [0.5, 1.0])
    assert [(r["route"], r["status"], r["error"]) for r in rows(metrics_path)] == [
        ("primary", 0, "ConnectError")
    ] * 3


async def test_connect_errors_everywhere_raise_unreachable(waits):
    gw = Gateways({"primary.test": [connect_error()] * 2, "fallback.test": [httpx.ReadTimeout("slow")] * 2})
    with pytest.raises(UpstreamFailed) as caught:
        await make_client(gw, fallback=True, retries=1).open(chat(), client="c")
    assert caught.value.message == "gateway unreachable (fallback): ReadTimeout"
    assert (gw.calls("primary.test"), gw.calls("fallback.test"), waits) == (2, 2, [0.5, 0.5])


async def test_last_gateway_error_is_raised_when_all_fail(waits):
    gw = Gateways(
        {
            "primary.test": [status(503)] * 3,
            "fallback.test": [status(404, body=b'{"error":{"message":"no model"}}')],
        }
    )
    with pytest.raises(UpstreamFailed) as caught:
        await make_client(gw, fallback=True).open(chat(), client="c")
    assert caught.value.message == "fallback gateway: upstream returned HTTP 404: no model"
    assert (caught.value.status, caught.value.error_type) == (404, "not_found_error")


async def test_fallback_model_overrides_the_sent_body(waits):
    gw = Gateways({"primary.test": [status(404)], "fallback.test": [ok()]})
    call = await make_client(gw, fallback=True, fallback_model="fb-model").open(
        chat("primary-model"), client="c"
    )
    primary, fallback = gw.bodies("primary.test")[0], gw.bodies("fallback.test")[0]
    assert primary["model"] == "primary-model"
    assert fallback == {**primary, "model": "fb-model"}
    assert call.model == "fb-model"


async def test_fallback_without_model_sends_the_translated_model(waits):
    gw = Gateways({"primary.test": [status(404)], "fallback.test": [ok()]})
    call = await make_client(gw, fallback=True).open(chat("primary-model"), client="c")
    assert gw.bodies("fallback.test")[0]["model"] == "primary-model"
    assert call.model == "primary-model"


async def test_body_sent_without_nulls(waits):
    gw = Gateways({"primary.test": [ok()]})
    await make_client(gw).open(chat(), client="c")
    assert gw.bodies("primary.test") == [
        {"model": "primary-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}
    ]


async def test_each_gateway_gets_only_its_own_key(waits):
    gw = Gateways({"primary.test": [status(401)], "fallback.test": [ok()]})
    await make_client(gw, fallback=True).open(chat(), client="c")
    primary, fallback = gw.seen
    assert primary.headers["authorization"] == f"Bearer {PRIMARY_KEY}"
    assert fallback.headers["authorization"] == f"Bearer {FALLBACK_KEY}"
    assert str(primary.url) == "http://primary.test/v1/chat/completions"
    assert str(fallback.url) == "http://fallback.test/v1/chat/completions"


async def test_fallback_without_key_never_receives_the_primary_key(waits):
    gw = Gateways({"primary.test": [status(401)], "fallback.test": [ok()]})
    await make_client(gw, fallback=True, fallback_api_key=None).open(chat(), client="c")
    assert "authorization" not in gw.seen[1].headers


# ---------------------------------------------------------------- metrics


async def test_metrics_row_per_attempt(waits, metrics_path):
    gw = Gateways({"primary.test": [status(429), status(503)], "fallback.test": [status(404)]})
    client = make_client(gw, metrics_path, fallback=True, retries=1, fallback_model="fb-model")
    with pytest.raises(UpstreamFailed):
        await client.open(chat(), client="job:j1")
    got = [(r["route"], r["status"], r["model"], r["client"], r["stream"]) for r in rows(metrics_path)]
    assert got == [
        ("primary", 429, "primary-model", "job:j1", False),
        ("primary", 503, "primary-model", "job:j1", False),
        ("fallback", 404, "fb-model", "job:j1", False),
    ]
    assert [r["error"] for r in rows(metrics_path)] == [
        "upstream returned HTTP 429: nope",
        "upstream returned HTTP 503: nope",
        "upstream returned HTTP 404: nope",
    ]


async def test_successful_call_writes_its_row_on_close(waits, metrics_path):
    gw = Gateways({"primary.test": [status(429), ok()]})
    call = await make_client(gw, metrics_path).open(chat(), client="client-abcd1234")
    assert len(rows(metrics_path)) == 1  # only the failed attempt so far
    await call.close(Usage(input_tokens=10, output_tokens=5, cached_tokens=2))
    last = rows(metrics_path)[-1]
    assert {
        k: last[k]
        for k in (
            "model",
            "route",
            "status",
            "stream",
            "client",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "error",
        )
    } == {
        "model": "primary-model",
        "route": "primary",
        "status": 200,
        "stream": False,
        "client": "client-abcd1234",
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_tokens": 2,
        "error": "",
    }
    assert last["latency_ms"] >= 0 and isinstance(last["ts"], float)


async def test_close_records_a_stream_error(waits, metrics_path):
    gw = Gateways({"primary.test": [ok()]})
    call = await make_client(gw, metrics_path).open(chat(stream=True), client="c")
    await call.close(Usage(), error="cut")
    assert [(r["stream"], r["error"]) for r in rows(metrics_path)] == [(True, "cut")]


async def test_failure_row_error_truncated_to_300_chars(waits, metrics_path):
    gw = Gateways({"primary.test": [status(400, body=b"x" * 2000)]})
    with pytest.raises(UpstreamFailed):
        await make_client(gw, metrics_path).open(chat(), client="c")
    assert len(rows(metrics_path)[0]["error"]) == 300


def test_metrics_file_none_is_a_no_op(tmp_path):
    MetricsFile(None).write(UpstreamCallRow("m", "primary", 200, 1.0, False, "c"))
    assert list(tmp_path.iterdir()) == []


def test_concurrent_metric_writes_are_whole_lines(metrics_path):
    metrics = MetricsFile(metrics_path)
    threads, per_thread = 8, 200
    big = "e" * 3000  # long rows: a writer that split a row into several writes would interleave them

    def writer(n: int) -> None:
        for i in range(per_thread):
            metrics.write(
                UpstreamCallRow("m", "primary", 200, 1.0, False, f"t{n}", input_tokens=i, error=big)
            )

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    lines = metrics_path.read_text().split("\n")
    assert lines[-1] == ""
    decoded = [json.loads(line) for line in lines[:-1]]
    assert len(decoded) == threads * per_thread
    assert sorted((r["client"], r["input_tokens"]) for r in decoded) == sorted(
        (f"t{n}", i) for n in range(threads) for i in range(per_thread)
    )
    assert all(r["error"] == big for r in decoded)


# ---------------------------------------------------------------- streams


def sse(*events: str) -> httpx.Response:
    return httpx.Response(
        200,
        content="".join(f"{e}\n\n" for e in events).encode(),
        headers={"content-type": "text/event-stream"},
    )


async def collect(call) -> list[dict]:
    return [chunk async for chunk in call.chunks()]


C1 = {"choices": [{"index": 0, "delta": {"content": "a"}}]}
C2 = {"choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": "stop"}]}


async def test_chunks_until_done(waits):
    gw = Gateways(
        {
            "primary.test": [
                sse(
                    ": keep-alive",
                    f"data: {json.dumps(C1)}",
                    "event: x",
                    f"data:{json.dumps(C2)}",
                    "data: [DONE]",
                    "data: {}",
                )
            ]
        }
    )
    call = await make_client(gw).open(chat(stream=True), client="c")
    assert await collect(call) == [C1, C2]


async def test_stream_without_done_is_cut(waits):
    gw = Gateways({"primary.test": [sse(f"data: {json.dumps(C1)}", f"data: {json.dumps(C2)}")]})
    call = await make_client(gw).open(chat(stream=True), client="c")
    got: list[dict] = []
    with pytest.raises(StreamCut, match=r"^upstream stream ended without \[DONE\]$"):
        async for chunk in call.chunks():
            got.append(chunk)
    assert got == [C1, C2]


async def test_empty_stream_is_cut(waits):
    gw = Gateways({"primary.test": [sse()]})
    call = await make_client(gw).open(chat(stream=True), client="c")
    with pytest.raises(StreamCut):
        await collect(call)


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        ({"error": {"message": "overloaded, try later"}}, "overloaded, try later"),
        ({"error": "quota"}, "quota"),
        ({"error": {"message": "bad"}, "choices": []}, "bad"),
    ],
)
async def test_error_chunk_cuts_the_stream(waits, chunk, message):
    gw = Gateways(
        {"primary.test": [sse(f"data: {json.dumps(C1)}", f"data: {json.dumps(chunk)}", "data: [DONE]")]}
    )
    call = await make_client(gw).open(chat(stream=True), client="c")
    got: list[dict] = []
    with pytest.raises(StreamCut) as caught:
        async for c in call.chunks():
            got.append(c)
    assert str(caught.value) == message
    assert got == [C1]


async def test_error_field_next_to_choices_is_a_normal_chunk(waits):
    chunk = {"error": None, **C1}
    gw = Gateways({"primary.test": [sse(f"data: {json.dumps(chunk)}", "data: [DONE]")]})
    call = await make_client(gw).open(chat(stream=True), client="c")
    assert await collect(call) == [chunk]


# ---------------------------------------------------------------- helpers


RETRY_AFTER = [
    pytest.param(None, None, id="none"),
    pytest.param("", None, id="empty"),
    pytest.param("5", 5.0, id="integer"),
    pytest.param("1.5", 1.5, id="fraction"),
    pytest.param("0", 0.0, id="zero"),
    pytest.param(" 7 ", 7.0, id="padded"),
    pytest.param("soon", None, id="garbage"),
    pytest.param("Mon, 99 Foo 2025 00:00:00 GMT", None, id="bad_date"),
    pytest.param("nan", None, id="nan"),
]


@pytest.mark.parametrize(("header", "expected"), RETRY_AFTER)
def test_retry_after_s(header, expected):
    assert retry_after_s(header) == expected


def test_retry_after_s_http_date(monkeypatch):
    now = 1_700_000_000.0
    monkeypatch.setattr("adapter.upstream.time", types.SimpleNamespace(time=lambda: now))
    assert retry_after_s(email.utils.formatdate(now + 30, usegmt=True)) == 30.0
    assert retry_after_s("Tue, 14 Nov 2023 22:13:50 GMT") == 30.0
    assert retry_after_s(email.utils.formatdate(now - 30, usegmt=True)) == 0.0


CHAT_URL = [
    ("http://gw/v1", "http://gw/v1/chat/completions"),
    ("http://gw/v1/", "http://gw/v1/chat/completions"),
    ("http://gw/v1///", "http://gw/v1/chat/completions"),
    ("http://gw/v1/chat/completions", "http://gw/v1/chat/completions"),
    ("http://gw/v1/chat/completions/", "http://gw/v1/chat/completions"),
    ("https://api.deepseek.com", "https://api.deepseek.com/chat/completions"),
]


@pytest.mark.parametrize(("base", "expected"), CHAT_URL)
def test_chat_url(base, expected):
    assert chat_url(base) == expected
