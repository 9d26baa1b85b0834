"""The ASGI app: Anthropic Messages in, OpenAI Chat Completions upstream."""

import contextlib
import logging
import secrets
import time

import anyio
import httpx
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapter import json_codec
from adapter.auth import TokenCheck
from adapter.body_limit import read_capped_body
from adapter.client_limits import ClientLimits, JobAdmission
from adapter.errors import AdapterError, InvalidRequest, error_response
from adapter.metrics import MetricsFile
from adapter.model_map import listed_models, resolve_target
from adapter.prometheus import AdapterMetrics
from adapter.reasoning_seal import ReasoningSeal
from adapter.settings import AdapterSettings
from adapter.token_count import estimate_input_tokens
from adapter.translate.context import ResponseContext
from adapter.translate.request import TranslatedRequest, to_openai
from adapter.translate.response import to_anthropic_message
from adapter.translate.stream import StreamTranslator
from adapter.translate.usage import Usage, from_openai
from adapter.upstream import StreamCut, UpstreamCall, UpstreamClient
from adapter.wire.anthropic_request import CountTokensRequest, MessagesRequest
from adapter.wire.openai_response import ChatCompletion
from farm_core.redaction import RedactingFilter, Redactor

log = logging.getLogger("adapter")
JSON = "application/json"
# Which backend model and provider profile served a /v1/messages request (errors included): `doctor --network`
# reads it.
ROUTE_HEADER = "x-codex-farm-route"


class MessagesService:
    """Request handling, holding the settings, token check and upstream client of one app."""

    def __init__(self, settings: AdapterSettings, upstream: UpstreamClient | None = None):
        self.settings = settings
        self.seal = ReasoningSeal.from_secrets(settings.reasoning_key, settings.upstream_api_key)
        self.tokens = TokenCheck(settings)
        self.limits = ClientLimits(settings.job_max_concurrent, settings.job_rate_per_min, settings.job_burst)
        self.upstream = upstream or UpstreamClient(settings, MetricsFile(settings.metrics_file))
        self.prometheus = AdapterMetrics()
        self.upstream.metrics.add_observer(self.prometheus.observe)

    async def messages(self, request: Request) -> Response:
        client = self.tokens.client_label(request)
        parsed = parse_body(MessagesRequest, await read_capped_body(request, self.settings.max_body_bytes))
        target = resolve_target(parsed.model, self.settings, self.seal)
        backend = target.model.encode("ascii", "replace").decode()  # header values are Latin-1 at most
        request.state.route = f"model={backend}; profile={target.profile.name}"
        translated = to_openai(parsed, target)
        call = await self.upstream.open(translated.payload, client=client)
        message_id = "msg_" + secrets.token_hex(12)
        if parsed.stream:
            events = stream_events(call, translated.context, message_id)
            return StreamingResponse(
                events, media_type="text/event-stream", headers={"cache-control": "no-cache"}
            )
        return await complete_message(call, translated.context, message_id)

    async def count_tokens(self, request: Request) -> Response:
        self.tokens.client_label(request)
        parsed = parse_body(CountTokensRequest, await read_capped_body(request, self.settings.max_body_bytes))
        translated = self._translate(parsed)
        return JSONResponse({"input_tokens": estimate_input_tokens(translated.payload)})

    async def models(self, request: Request) -> Response:
        self.tokens.client_label(request)
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"}
            for m in listed_models(self.settings)
        ]
        return JSONResponse(
            {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
        )

    async def prometheus_metrics(self, request: Request) -> Response:
        """Prometheus exposition; no token needed (only bounded labels: model, route, status)."""
        return Response(self.prometheus.render(), media_type=self.prometheus.content_type)

    def _translate(self, parsed: MessagesRequest | CountTokensRequest) -> TranslatedRequest:
        return to_openai(parsed, resolve_target(parsed.model, self.settings, self.seal))


def parse_body(model, raw: bytes | bytearray):
    """Validate a request body, turning JSON, Unicode and validation failures into a one-line
    InvalidRequest."""
    try:
        data = json_codec.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)  # orjson + model_validate beats model_validate_json on large bodies
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequest(f"{where}: {first['msg']}") from None


async def complete_message(call: UpstreamCall, context: ResponseContext, message_id: str) -> Response:
    """Read a non-streaming completion and answer with the Anthropic message."""
    usage, error = Usage(), ""
    try:
        completion = ChatCompletion.model_validate(await call.json())
        usage = from_openai(completion.usage)
        message = to_anthropic_message(completion, context, message_id)
    except (ValueError, httpx.HTTPError) as exc:
        error = f"unreadable upstream response: {type(exc).__name__}"
        raise AdapterError(error) from None
    finally:
        await call.close(usage, error)
    return Response(message.model_dump_json(), media_type=JSON)


async def stream_events(call: UpstreamCall, context: ResponseContext, message_id: str):
    """Anthropic SSE bytes from the upstream chunks; a broken stream ends with an `error` event, never a
    hang."""
    translator = StreamTranslator(context, message_id)
    error = ""
    try:
        yield translator.start()
        async for chunk in call.chunks():
            events = translator.feed(chunk)
            if events:
                yield events
        yield translator.finish()
    except (StreamCut, httpx.HTTPError, ValueError) as exc:
        error = str(exc) or type(exc).__name__
        log.warning("upstream stream failed: %s", error)
        yield translator.fail("api_error", f"upstream stream failed: {error}")
    finally:
        with anyio.CancelScope(shield=True):
            await call.close(translator.usage, error)


def handled(endpoint):
    """Wrap an endpoint so every failure becomes Anthropic error JSON, never a traceback."""

    async def wrapper(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await endpoint(request)
        except AdapterError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unhandled error on %s", request.url.path)
            response = error_response(AdapterError("internal adapter error"))
        route = getattr(request.state, "route", None)
        if route is not None:
            response.headers[ROUTE_HEADER] = route
        log.info(
            "%s %s -> %s in %.1f ms",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    return wrapper


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: AdapterSettings | None = None, upstream: UpstreamClient | None = None) -> Starlette:
    """Build the adapter app; settings are read from the environment when not given."""
    settings = settings or AdapterSettings()
    install_log_redaction(settings)
    service = MessagesService(settings, upstream)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await service.upstream.aclose()

    routes = [
        Route("/v1/messages", handled(service.messages), methods=["POST"]),
        Route("/v1/messages/count_tokens", handled(service.count_tokens), methods=["POST"]),
        Route("/v1/models", handled(service.models), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", service.prometheus_metrics, methods=["GET"]),
    ]
    admission = Middleware(JobAdmission, limits=service.limits, tokens=service.tokens)
    return Starlette(routes=routes, middleware=[admission], lifespan=lifespan)


def install_log_redaction(settings: AdapterSettings) -> None:
    """Mask the adapter's secrets in every log record of this process."""
    redacting = RedactingFilter(Redactor(settings.secrets()))
    for handler in logging.getLogger().handlers or [logging.lastResort]:
        if handler is not None and not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
    for name in ("adapter", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redacting)
