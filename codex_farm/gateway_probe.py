"""`codex-farm doctor --network`: a live two-step tool-call conversation with the gateway, through the
adapter.

Step one asks the model (as Claude Code does: streamed, with a tool) to call `probe_note`; step two sends
the answer back as Claude Code would, thinking blocks and their signatures included, with the tool's
result. A gateway that wants its reasoning back refuses step two when the adapter's provider profile
does not carry it; the verdict then names the profile to set. Run once with thinking on, once off.
"""

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from adapter.providers import infer_profile
from adapter.reasoning_seal import VERSION as SEAL_VERSION

PROBE_TOOL = "probe_note"
# The marker lets the scripted gateway play the probe; real models ignore it.
PROMPT = (
    f'codex-farm connectivity check: call the {PROBE_TOOL} tool once with note "ping"; after its result, '
    "answer with the single word done. [[scenario:probe]]"
)
TOOLS = [
    {
        "name": PROBE_TOOL,
        "description": "Records a note for the connectivity check.",
        "input_schema": {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
    }
]
MAX_TOKENS = 2048
STEP_TIMEOUT_S = 120.0
ROUTE_HEADER = "x-codex-farm-route"
# Phrases of the refusals of providers that want their reasoning back (docs/providers.md) -> their profile.
REFUSAL_PROFILES = (
    ("thought_signature", "gemini"),
    ("reasoning details", "openrouter"),
    ("in assistant tool call message", "kimi"),
    ("reasoning_content", "deepseek"),
)


@dataclass
class Step:
    """One streamed /v1/messages call: its status, time, blocks, usage, and error text if any."""

    status: int = 0
    latency_ms: float = 0.0
    blocks: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    error: str = ""
    route: dict[str, str] = field(default_factory=dict)  # model and profile the adapter used

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [b for b in self.blocks if b["type"] == "tool_use"]

    @property
    def thinking(self) -> list[dict[str, Any]]:
        return [b for b in self.blocks if b["type"] == "thinking"]


@dataclass(frozen=True)
class Verdict:
    """What the doctor prints for one probe: OK/FAIL, or a passing probe worth a look (WARN)."""

    ok: bool
    detail: str
    hint: str = ""
    note: Literal["", "WARN"] = ""


def run_probe(adapter_url: str, token: str, model: str, thinking: bool, base_url: str) -> Verdict:
    """Both steps against the adapter at adapter_url with thinking on or off; base_url is the gateway's
    (for hints)."""
    url = adapter_url.rstrip("/") + "/v1/messages"
    headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
    user = {"role": "user", "content": PROMPT}
    with httpx.Client(timeout=STEP_TIMEOUT_S, headers=headers) as client:
        first = send(client, url, _body(model, [user], thinking))
        if not first.ok or not first.tool_uses:
            return judge(thinking, first, None, base_url)
        results = [
            {"type": "tool_result", "tool_use_id": b["id"], "content": "noted"} for b in first.tool_uses
        ]
        history = [user, {"role": "assistant", "content": first.blocks}, {"role": "user", "content": results}]
        second = send(client, url, _body(model, history, thinking))
    return judge(thinking, first, second, base_url)


def _body(model: str, messages: list[dict], thinking: bool) -> dict:
    # What Claude Code sends: adaptive thinking with an effort, or thinking disabled.
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "stream": True,
        "tools": TOOLS,
        "messages": messages,
    }
    if thinking:
        body.update(thinking={"type": "adaptive"}, output_config={"effort": "low"})
    else:
        body["thinking"] = {"type": "disabled"}
    return body


def send(client: httpx.Client, url: str, body: dict) -> Step:
    """Stream one request and fold its events into a Step (never raises on a network or HTTP failure)."""
    step, started = Step(), time.perf_counter()
    try:
        with client.stream("POST", url, json=body) as response:
            step.status = response.status_code
            step.route = _route(response.headers.get(ROUTE_HEADER, ""))
            if response.status_code != 200:
                step.error = _error_text(response.read())
            else:
                _fold(response.iter_lines(), step)
    except httpx.HTTPError as exc:
        step.error = f"{type(exc).__name__}: {exc}"[:300]
    step.latency_ms = (time.perf_counter() - started) * 1000
    return step


def _route(header: str) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in header.split(";") if "=" in part)
    return {key: value for key, _, value in pairs}


def _error_text(raw: bytes) -> str:
    try:
        error = json.loads(raw).get("error", {})
        return str(error.get("message") or error)[:300]
    except (ValueError, AttributeError):
        return raw[:300].decode("utf-8", "replace")


def _fold(lines, step: Step) -> None:
    """Rebuild content blocks and usage from Anthropic SSE lines."""
    arguments: dict[int, list[str]] = {}
    for line in lines:
        if not line.startswith("data:"):
            continue
        event = json.loads(line[5:])
        kind = event.get("type")
        if kind == "message_start":
            step.usage.update(_counts(event["message"].get("usage")))
        elif kind == "content_block_start":
            step.blocks.append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            _apply_delta(
                step.blocks[event["index"]], event["delta"], arguments.setdefault(event["index"], [])
            )
        elif kind == "message_delta":
            step.usage.update(_counts(event.get("usage")))
        elif kind == "error":
            step.error = str(event.get("error", {}).get("message", "stream error"))[:300]
    for index, parts in arguments.items():
        if parts:
            step.blocks[index]["input"] = json.loads("".join(parts))


def _apply_delta(block: dict, delta: dict, arguments: list[str]) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] += delta["text"]
    elif kind == "thinking_delta":
        block["thinking"] += delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] += delta["signature"]
    elif kind == "input_json_delta":
        arguments.append(delta["partial_json"])


def _counts(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    return {k: v for k, v in usage.items() if isinstance(v, int) and v}


# --- verdicts --------------------------------------------------------------------------------------


def judge(thinking: bool, first: Step, second: Step | None, base_url: str) -> Verdict:
    """The doctor's line for one probe run, with the fix when something is wrong."""
    route = (second or first).route or first.route
    profile, model = route.get("profile", "?"), route.get("model", "?")
    head = f"{profile} profile, {model}:"
    if not first.ok:
        return Verdict(
            False, f"{head} step 1 failed ({_failure(first)})", fix_for(first.error, profile, base_url, model)
        )
    if second is None:
        return Verdict(
            True,
            f"{head} step 1 {first.latency_ms:.0f} ms, but the model answered without calling "
            f"{PROBE_TOOL}: the round trip was not exercised",
            "run it again, or try another model",
            "WARN",
        )
    if not second.ok:
        return Verdict(
            False,
            f"{head} step 2 refused ({_failure(second)}): the gateway did not get back what it wants",
            fix_for(second.error, profile, base_url, model),
        )
    parts = [
        f"{head} step 1 {first.latency_ms:.0f} ms, step 2 {second.latency_ms:.0f} ms",
        _reasoning(first),
        _usage(second),
    ]
    if not (second.usage.get("input_tokens") or second.usage.get("output_tokens")):
        return Verdict(
            True,
            "; ".join(parts),
            "the gateway sent no usage in the stream (the scripted model sends 0): "
            "stats and costs will read 0",
            "WARN",
        )
    if not thinking and first.thinking and any(b.get("thinking") for b in first.thinking):
        suggested = _suggested(profile, "", base_url, model)
        hint = (
            _set(suggested)
            if suggested
            else f"the {profile} profile cannot switch this model's thinking (docs/providers.md)"
        )
        return Verdict(
            True, "; ".join(parts) + "; thinking off was asked but the model still reasoned", hint, "WARN"
        )
    return Verdict(True, "; ".join(parts))


def _failure(step: Step) -> str:
    return f"HTTP {step.status}: {step.error}" if step.status else step.error


def _reasoning(step: Step) -> str:
    sealed = [b for b in step.thinking if str(b.get("signature", "")).startswith(SEAL_VERSION + ".")]
    if not step.thinking:
        return "no reasoning came back"
    chars = sum(len(b.get("thinking", "")) for b in step.thinking)
    if sealed:
        return f"reasoning round trip ok ({chars} chars, sealed)"
    return f"reasoning not carried ({chars} chars, unsealed)"


def _usage(step: Step) -> str:
    usage = step.usage
    cached = usage.get("cache_read_input_tokens", 0)
    return f"streamed usage {usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out; " + (
        f"cache hits {cached} tokens" if cached else "no cache hits reported"
    )


def fix_for(error: str, profile: str, base_url: str, model: str) -> str:
    """One line: the profile to set when the refusal or the gateway names one, else where to look."""
    suggested = _suggested(profile, error, base_url, model)
    if suggested:
        return _set(suggested)
    if "401" in error or "api key" in error.lower():
        return "check ONEAPI_API_KEY"
    return "see the adapter's log and docs/providers.md"


def _suggested(profile: str, error: str, base_url: str, model: str) -> str | None:
    """The gateway's own profile (by its host or the model's name) when it is not the one in use, else the
    refusal's."""
    inferred = infer_profile(base_url, model).name if model != "?" else "generic"
    if inferred not in (profile, "generic"):
        return inferred
    lowered = error.lower()
    return next((name for phrase, name in REFUSAL_PROFILES if phrase in lowered and name != profile), None)


def _set(profile: str) -> str:
    return f'set ADAPTER_PROFILE={profile} (or "profile": "{profile}" on the ADAPTER_MODEL_MAP entry)'
