"""One non-streaming Anthropic Messages call to the adapter: bounded input, bounded output, text and usage
back."""

from dataclasses import dataclass

import httpx
from pydantic import BaseModel

from mcp_frontend.errors import InvalidArgument, ModelCallFailed
from mcp_frontend.service_protocols import CheapService

ANTHROPIC_VERSION = "2023-06-01"
# Caps on what one call sends and keeps; a cheap call must stay cheap whatever the caller passes.
MAX_INPUT_CHARS = 300_000
MAX_OUTPUT_TOKENS = 4096
MAX_OUTPUT_CHARS = 32_000
# Below Codex's usual tool_timeout_sec (120 s), so the caller gets our error rather than its own timeout.
CALL_TIMEOUT_S = 100.0


class LiteUsage(BaseModel):
    """Tokens of one call (all zero when an answer came from the cache)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class ModelReply:
    """The model's text (trimmed to MAX_OUTPUT_CHARS), its usage, and whether anything was cut."""

    text: str
    usage: LiteUsage
    stop_reason: str | None
    truncated: bool


class ModelClient:
    """Calls `POST {adapter_url}/v1/messages` with a client token; one request per `complete`."""

    def __init__(
        self,
        adapter_url: str,
        token: str,
        timeout_s: float = CALL_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.url = adapter_url.rstrip("/") + "/v1/messages"
        self.token = token
        self.timeout_s = timeout_s
        self.transport = transport

    async def complete(self, system: str, prompt: str, model: str, max_tokens: int = 1024) -> ModelReply:
        """One user turn, answered in full; raises InvalidArgument past the input cap, ModelCallFailed on
        any failure."""
        if len(system) + len(prompt) > MAX_INPUT_CHARS:
            raise InvalidArgument(
                f"request of {len(system) + len(prompt)} characters exceeds the cap of {MAX_INPUT_CHARS}"
            )
        body = {
            "model": model,
            "max_tokens": max(1, min(max_tokens, MAX_OUTPUT_TOKENS)),
            "system": _sendable(system),
            "messages": [{"role": "user", "content": _sendable(prompt)}],
        }
        headers = {
            "x-api-key": self.token,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as client:
                response = await client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise ModelCallFailed(f"the adapter did not answer within {self.timeout_s:.0f}s") from None
        except httpx.HTTPError as exc:
            raise ModelCallFailed(f"cannot reach the adapter: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ModelCallFailed(f"the adapter answered {response.status_code}: {_error_message(response)}")
        try:
            data = response.json()
        except ValueError:
            raise ModelCallFailed("the adapter's answer is not JSON") from None
        return _reply(data)


def _sendable(text: str) -> str:
    """text as valid UTF-8: a lone surrogate (from a JSON escape or an undecodable file name) becomes
    U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _reply(data: dict) -> ModelReply:
    blocks = data.get("content") if isinstance(data, dict) else None
    if not isinstance(blocks, list):
        raise ModelCallFailed("the adapter's answer has no content")
    text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    usage = data.get("usage") or {}
    counts = LiteUsage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cached_tokens=_int(usage.get("cache_read_input_tokens")),
    )
    stop = data.get("stop_reason")
    cut = len(text) > MAX_OUTPUT_CHARS
    return ModelReply(
        text=text[:MAX_OUTPUT_CHARS], usage=counts, stop_reason=stop, truncated=cut or stop == "max_tokens"
    )


def _int(value) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _error_message(response: httpx.Response) -> str:
    """The adapter's error message (Anthropic error shape), short."""
    try:
        error = response.json().get("error") or {}
        message = error.get("message") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        message = None
    return (message or response.text or response.reason_phrase)[:300]


async def call_model(
    service: CheapService, system: str, prompt: str, model: str | None, max_tokens: int
) -> ModelReply:
    """One call through the adapter the frontend is configured with (ADAPTER_URL, ADAPTER_TOKEN); prompt
    and text redacted."""
    farm = service.farm
    token = farm.adapter_token.get_secret_value() if farm.adapter_token else ""
    client = ModelClient(farm.adapter_url, token)
    try:
        reply = await client.complete(
            system, service.redact(prompt), model or service.frontend.lite_model, max_tokens
        )
    except ModelCallFailed as exc:
        raise ModelCallFailed(service.redact(exc.message)) from None
    return ModelReply(service.redact(reply.text), reply.usage, reply.stop_reason, reply.truncated)


def check_model_name(model: str | None) -> None:
    if model is not None and not (0 < len(model) <= 128 and model.isprintable() and " " not in model):
        raise InvalidArgument("model must be a model name (1-128 characters, no spaces)")
