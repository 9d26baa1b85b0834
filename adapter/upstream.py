"""Calls the OpenAI-compatible gateway: bounded retries, Retry-After, fallback gateway, metrics."""

import email.utils
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import httpx

from adapter import json_codec
from adapter.errors import UpstreamFailed
from adapter.metrics import MetricsFile, UpstreamCallRow
from adapter.settings import AdapterSettings
from adapter.translate.upstream_error import translate_upstream_error, upstream_error_message
from adapter.translate.usage import Usage

log = logging.getLogger("adapter.upstream")

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# A wrong key or model on one gateway says nothing about the other one.
FALLBACK_STATUSES = RETRYABLE_STATUSES | {401, 403, 404}
BACKOFF_BASE_S = 0.5


@dataclass(frozen=True)
class Gateway:
    """One upstream: where to send, with which key, and which backend model (None: as translated)."""

    route: str
    url: str
    api_key: str | None
    model: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers


@dataclass
class UpstreamCall:
    """An open, successful (HTTP 200) gateway response; close() writes the metrics row."""

    response: httpx.Response
    gateway: Gateway
    model: str
    stream: bool
    client: str
    metrics: MetricsFile
    started: float = field(default_factory=time.perf_counter)

    async def json(self) -> dict:
        """The whole non-streaming body, decoded."""
        return json.loads(await self.response.aread())

    async def chunks(self) -> AsyncIterator[dict]:
        """Decoded `data:` chunks until `[DONE]`; raises StreamCut if the stream ends early or reports an
        error."""
        lines = self.response.aiter_lines()
        async for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                async for _ in lines:
                    pass  # read to the end, so httpx can reuse the connection for the next call
                return
            chunk = json.loads(data)
            if "error" in chunk and not chunk.get("choices"):
                raise StreamCut(upstream_error_message(data.encode()))
            yield chunk
        raise StreamCut("upstream stream ended without [DONE]")

    async def close(self, usage: Usage, error: str = "") -> None:
        """Release the connection and account for the call."""
        await self.response.aclose()
        self.metrics.write(
            UpstreamCallRow(
                model=self.model,
                route=self.gateway.route,
                status=self.response.status_code,
                latency_ms=round((time.perf_counter() - self.started) * 1000, 2),
                stream=self.stream,
                client=self.client,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cached_tokens=usage.cached_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                error=error,
            )
        )


class StreamCut(Exception):
    """The upstream stream broke off or reported an error after it had started."""


class UpstreamClient:
    """Sends translated requests to the primary gateway, then the fallback, retrying transient failures."""

    def __init__(
        self, settings: AdapterSettings, metrics: MetricsFile, http: httpx.AsyncClient | None = None
    ):
        self._settings = settings
        self._metrics = metrics
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.upstream_timeout_s, connect=10.0, read=settings.stream_idle_timeout_s
            ),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        self._gateways = gateways_from(settings)

    @property
    def metrics(self) -> MetricsFile:
        """Where every call is accounted for."""
        return self._metrics

    async def aclose(self) -> None:
        await self._http.aclose()

    async def open(self, payload: dict, *, client: str) -> UpstreamCall:
        """Return an open 200 response from the first gateway that gives one; raise UpstreamFailed
        otherwise."""
        failure = UpstreamFailed("no upstream gateway configured")
        for gateway in self._gateways:
            sent = self._encode(payload, gateway)
            model = gateway.model or payload["model"]
            for attempt in range(self._settings.retries + 1):
                try:
                    call = await self._attempt(gateway, sent, model, bool(payload.get("stream")), client)
                except _Retryable as retry:
                    failure = retry.error
                    if attempt < self._settings.retries:
                        await anyio.sleep(self._wait_s(retry.retry_after, attempt))
                    continue
                except _GiveUpOnGateway as give_up:
                    failure = give_up.error
                    break
                except UpstreamFailed:
                    raise
                return call
        raise failure

    @staticmethod
    def _encode(payload: dict, gateway: Gateway) -> bytes:
        """The request bytes for one gateway (the fallback may name its own model)."""
        if gateway.model and gateway.model != payload["model"]:
            payload = {**payload, "model": gateway.model}
        return json_codec.dumps(payload)

    async def _attempt(
        self, gateway: Gateway, payload: bytes, model: str, stream: bool, client: str
    ) -> UpstreamCall:
        started = time.perf_counter()
        request = self._http.build_request("POST", gateway.url, content=payload, headers=gateway.headers())
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            self._record_failure(gateway, model, stream, client, started, 0, type(exc).__name__)
            raise _Retryable(
                UpstreamFailed(f"gateway unreachable ({gateway.route}): {type(exc).__name__}"), None
            ) from exc
        if response.status_code == 200:
            return UpstreamCall(response, gateway, model, stream, client, self._metrics, started)
        body = await response.aread()
        await response.aclose()
        status, error_type, message = translate_upstream_error(response.status_code, body)
        self._record_failure(gateway, model, stream, client, started, response.status_code, message)
        error = UpstreamFailed(f"{gateway.route} gateway: {message}", status=status, error_type=error_type)
        if response.status_code in RETRYABLE_STATUSES:
            raise _Retryable(error, retry_after_s(response.headers.get("retry-after")))
        if response.status_code in FALLBACK_STATUSES:
            raise _GiveUpOnGateway(error)
        raise error

    def _record_failure(self, gateway, model, stream, client, started, status, error) -> None:
        log.warning("upstream %s failed: status=%s %s", gateway.route, status, error)
        latency = round((time.perf_counter() - started) * 1000, 2)
        self._metrics.write(
            UpstreamCallRow(model, gateway.route, status, latency, stream, client, error=error[:300])
        )

    def _wait_s(self, retry_after: float | None, attempt: int) -> float:
        wait = retry_after if retry_after is not None else BACKOFF_BASE_S * 2**attempt
        return min(max(wait, 0.0), self._settings.retry_max_wait_s)


class _Retryable(Exception):
    def __init__(self, error: UpstreamFailed, retry_after: float | None):
        self.error, self.retry_after = error, retry_after


class _GiveUpOnGateway(Exception):
    def __init__(self, error: UpstreamFailed):
        self.error = error


def gateways_from(settings: AdapterSettings) -> list[Gateway]:
    """The primary gateway, then the fallback when one is configured."""
    gateways = [Gateway("primary", chat_url(settings.upstream_base_url), _secret(settings.upstream_api_key))]
    if settings.fallback_base_url:
        gateways.append(
            Gateway(
                "fallback",
                chat_url(settings.fallback_base_url),
                _secret(settings.fallback_api_key),
                settings.fallback_model,
            )
        )
    return gateways


def chat_url(base_url: str) -> str:
    """`…/v1` → `…/v1/chat/completions`; a URL already ending in the path is kept."""
    base = base_url.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def retry_after_s(header: str | None) -> float | None:
    """Seconds from a Retry-After header given as seconds or as an HTTP date."""
    if not header:
        return None
    try:
        seconds = float(header)
        return seconds if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None
