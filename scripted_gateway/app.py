"""The Starlette ASGI app: OpenAI-compatible endpoints plus `/_control/` endpoints for tests."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import NoReturn

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .connections import ConnectionDropped, ConnectionResetter
from .errors import GatewayError, invalid
from .playback import Plan, plan_turn, render_chunks, render_completion, select_scenario, turn_index
from .profiles import Profile
from .reasoning_echo import echo_report, refuse_missing
from .recording import new_entry
from .scenario import Fault, parse_scenarios
from .state import GatewayState
from .validation import validate_request

_DEFAULT_FAULT_MESSAGES = {
    429: "Rate limit reached for requests (scripted fault).",
    500: "The server had an error while processing your request (scripted fault).",
    503: "The engine is currently overloaded, please try again later (scripted fault).",
}


class StreamCut(Exception):
    """Raised inside a response body to drop the connection mid-stream (a scripted fault)."""


def error_response(err: GatewayError) -> JSONResponse:
    """Render a GatewayError as OpenAI-style error JSON with its status and headers."""
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def create_app(state: GatewayState, connections: ConnectionResetter | None = None) -> Starlette:
    """Build the ASGI app serving `state`; `connections` (attached to the server) serves `reset` faults."""
    resetter = connections or ConnectionResetter()

    async def chat_completions(request: Request) -> Response:
        raw = await request.body()
        entry = new_entry(request.url.path, request.headers, raw)
        try:
            response = await _serve_completion(state, request, raw, entry, resetter)
            entry["status"] = 200
        except GatewayError as err:
            entry["status"], entry["error"] = err.status, err.message
            response = error_response(err)
        except ConnectionDropped:
            entry["status"] = 0  # no HTTP answer at all: the connection was reset
            state.record_request(entry)
            raise
        state.record_request(entry)
        return response

    async def models(request: Request) -> Response:
        try:
            _check_auth(request, state.config.api_key)
        except GatewayError as err:
            return error_response(err)
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "scripted-gateway"}
            for m in state.config.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def add_scenarios(request: Request) -> Response:
        try:
            scenarios = parse_scenarios(json.loads(await request.body()))
        except (ValueError, ValidationError) as exc:  # ValidationError is a ValueError; listed for clarity
            return error_response(invalid(f"Invalid scenario: {exc}"))
        for scenario in scenarios:
            state.add_scenario(scenario)
        return JSONResponse({"added": [s.name for s in scenarios]})

    async def list_scenarios(request: Request) -> Response:
        scenarios = state.scenarios()
        return JSONResponse(
            {"scenarios": [s.model_dump(mode="json", exclude_defaults=True) for s in scenarios.values()]}
        )

    async def recorded_requests(request: Request) -> Response:
        return JSONResponse({"requests": state.requests()})

    async def usage(request: Request) -> Response:
        return JSONResponse(state.usage())

    async def reset(request: Request) -> Response:
        raw = await request.body()
        try:
            options = json.loads(raw) if raw.strip() else {}
            full = bool(options.get("full", False))
        except (ValueError, AttributeError):
            return error_response(invalid('Expected an empty body or {"full": true|false}.'))
        state.reset(full=full)
        return JSONResponse({"reset": True})

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/models", models, methods=["GET"]),
        Route("/_control/scenarios", add_scenarios, methods=["POST"]),
        Route("/_control/scenarios", list_scenarios, methods=["GET"]),
        Route("/_control/requests", recorded_requests, methods=["GET"]),
        Route("/_control/usage", usage, methods=["GET"]),
        Route("/_control/reset", reset, methods=["POST"]),
    ]
    return Starlette(routes=routes)


async def _serve_completion(
    state: GatewayState, request: Request, raw: bytes, entry: dict, resetter: ConnectionResetter
) -> Response:
    config = state.config
    _check_auth(request, config.api_key)
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("We could not parse the JSON body of your request.") from None
    profile = config.thinking_profile
    validate_request(body, config.max_output_tokens, profile)
    thinking = _apply_thinking_rules(body, profile, entry)
    messages = body["messages"]
    scenario = select_scenario(messages, state.scenarios(), config.default_scenario)
    index = turn_index(messages)
    entry["scenario"], entry["turn"] = scenario.name, index
    # Expectations and templates are checked before faults so a broken request never eats one.
    plan = plan_turn(scenario, index, body, config.report_tokens, profile, thinking)
    fault = state.next_fault(scenario, index)
    if fault is not None and fault.kind == "reset":
        await _reset_connection(resetter, request, fault, entry)
    cut = await _apply_fault(fault, entry)
    if body.get("stream"):
        return _stream_response(state, plan, body, cut)
    completion = json.dumps(render_completion(plan, body["model"])).encode()
    if cut is not None:
        # A non-streamed body is cut halfway: headers sent, body incomplete.
        half = completion[: len(completion) // 2]
        return StreamingResponse(_cut_body(_paced([half], 0)), media_type="application/json")
    state.add_usage(plan.scenario, plan.usage)
    return Response(completion, media_type="application/json")


def _apply_thinking_rules(body: dict, profile: Profile, entry: dict) -> bool:
    """Whether the request thinks; refuses it as the provider would when reasoning did not come back.

    Profiles with a switch record `thinking`, those with an echo rule `reasoning_echo`, those with provider
    state `state_checked` (the assistant messages whose state came back intact), in the entry.
    """
    thinking = profile.thinks(body)
    if profile.switch is not None:
        entry["thinking"] = thinking
    if thinking and profile.echo_rule is not None:
        report = echo_report(body["messages"], profile.echo_rule, profile.echo_fields)
        entry["reasoning_echo"] = report.record()
        refuse_missing(report, profile.echo_rule)
    if thinking and profile.state is not None:
        entry["state_checked"] = profile.state.check(body["messages"])
    return thinking


def _check_auth(request: Request, api_key: str | None) -> None:
    if api_key is None:
        return
    header = request.headers.get("authorization")
    if header != f"Bearer {api_key}":
        reason = "You didn't provide an API key." if header is None else "Incorrect API key provided."
        raise GatewayError(reason, status=401, code="invalid_api_key")


async def _reset_connection(
    resetter: ConnectionResetter, request: Request, fault: Fault, entry: dict
) -> NoReturn:
    """Answer nothing: reset the request's TCP connection (a scripted fault)."""
    entry["fault"] = fault.model_dump(exclude_none=True)
    if not await resetter.reset(request.scope.get("client")):
        raise GatewayError("reset fault: the gateway's server did not register its connections", status=500)
    raise ConnectionDropped("scripted connection reset")


async def _apply_fault(fault: Fault | None, entry: dict) -> int | None:
    """Raise status faults, sleep through stalls; return the chunk count to cut after, if any."""
    if fault is None:
        return None
    entry["fault"] = fault.model_dump(exclude_none=True)
    if fault.kind == "status":
        headers = {}
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        raise GatewayError(
            fault.message or _DEFAULT_FAULT_MESSAGES.get(fault.status, f"Scripted HTTP {fault.status}."),
            status=fault.status,
            code="rate_limit_exceeded" if fault.status == 429 else None,
            headers=headers,
        )
    if fault.kind == "stall_ms":
        await asyncio.sleep(fault.stall_ms / 1000)
        return None
    return fault.cut_after_chunks


def _stream_response(state: GatewayState, plan: Plan, body: dict, cut: int | None) -> StreamingResponse:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    chunks = render_chunks(plan, body["model"], include_usage)
    lines = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n".encode() for c in chunks]
    if cut is None:
        # Billed when served; a cut stream never completes, so it is not counted.
        state.add_usage(plan.scenario, plan.usage)
        return StreamingResponse(
            _paced(_with_comments(lines, plan) + [b"data: [DONE]\n\n"], plan.turn.delay_ms),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    return StreamingResponse(
        _cut_body(_paced(_with_comments(lines[:cut], plan), plan.turn.delay_ms)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def _with_comments(lines: list[bytes], plan: Plan) -> list[bytes]:
    """The profile's SSE comment line before the first chunk and between every two."""
    if plan.profile.sse_comment is None:
        return lines
    comment = f"{plan.profile.sse_comment}\n\n".encode()
    return [part for line in lines for part in (comment, line)]


async def _paced(lines: list[bytes], delay_ms: int) -> AsyncIterator[bytes]:
    for i, line in enumerate(lines):
        if i and delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        yield line


async def _cut_body(parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # Raising after the last part makes the server drop the connection without
    # finishing the chunked body, exactly what a client sees when a gateway dies mid-stream.
    async for part in parts:
        yield part
    raise StreamCut("scripted stream cut")
