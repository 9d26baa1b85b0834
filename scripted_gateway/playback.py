"""Choosing the scripted turn for a request and rendering it as a completion or as chunks.

Turn choice is stateless: turn N answers a request whose history holds N assistant
messages, so concurrent conversations never interfere and retries replay the same turn.
"""

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import invalid
from .profiles import GENERIC, Profile
from .provider_state import ReasoningDetails, ThoughtSignatures
from .request_text import all_strings, find_cwd, message_texts
from .scenario import Scenario, Turn
from .templating import fill_cwd
from .usage import NO_TOKENS, TokenCounts, compute_usage, render_usage

MARKER_RE = re.compile(r"\[\[scenario:([A-Za-z0-9_.\-]+)\]\]")
# What a thinking profile sends for a turn scripted without reasoning.
GENERATED_REASONING = "Thinking about turn {index}."


@dataclass(frozen=True)
class PlannedCall:
    """A tool call ready to send: id, name and JSON-encoded arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Plan:
    """Everything needed to answer one request, with templates already filled."""

    scenario: str
    turn_index: int
    turn: Turn
    reasoning: str | None
    text: str | None
    tool_calls: tuple[PlannedCall, ...]
    finish_reason: str
    usage: TokenCounts
    profile: Profile = GENERIC  # decides the reasoning field, the provider state and the extra usage fields
    thinking: bool = True  # the request runs in thinking mode

    def call_extra(self, position: int) -> dict | None:
        """The extra_content of the call at `position`: Gemini signs the first call of a thinking answer."""
        if position == 0 and self.thinking and isinstance(self.profile.state, ThoughtSignatures):
            call = self.tool_calls[0]
            return self.profile.state.mint(call.id, call.name)
        return None

    def reasoning_details(self) -> list[dict] | None:
        """OpenRouter's details of this answer's reasoning; None for other profiles or without reasoning."""
        if self.reasoning and isinstance(self.profile.state, ReasoningDetails):
            return self.profile.state.mint(self.reasoning)
        return None


def find_marker(messages: list[dict]) -> str | None:
    """The scenario name of the first `[[scenario:NAME]]` marker in the messages."""
    for text in message_texts(messages):
        match = MARKER_RE.search(text)
        if match:
            return match.group(1)
    return None


def select_scenario(messages: list[dict], scenarios: Mapping[str, Scenario], default: str | None) -> Scenario:
    """The marked scenario, else the default one; 400 if neither resolves."""
    name = find_marker(messages) or default
    if name is None:
        raise invalid(
            "No scenario selected: put [[scenario:NAME]] in a message or configure a default scenario.",
            param="messages",
        )
    if name not in scenarios:
        raise invalid(
            f"Unknown scenario {name!r}; known: {', '.join(sorted(scenarios)) or 'none'}.", param="messages"
        )
    return scenarios[name]


def turn_index(messages: list[dict]) -> int:
    """How many assistant messages the request carries."""
    return sum(1 for message in messages if message.get("role") == "assistant")


def select_turn(scenario: Scenario, index: int) -> Turn:
    """The scenario's turn at `index`; 400 past the end."""
    if index >= len(scenario.turns):
        raise invalid(
            f"scenario {scenario.name} has no turn {index} (it has {len(scenario.turns)}).", param="messages"
        )
    return scenario.turns[index]


def plan_turn(
    scenario: Scenario,
    index: int,
    body: dict,
    report_tokens: bool = True,
    profile: Profile = GENERIC,
    thinking: bool = True,
) -> Plan:
    """Check the turn's expectations against `body` and fill its templates; usage is zero unless
    report_tokens.

    `profile` and `thinking` (whether the request runs in thinking mode) decide what reasoning is sent.
    """
    messages = body["messages"]
    turn = select_turn(scenario, index)
    cwd = find_cwd(messages)
    _check_expect(fill_cwd(turn.expect, cwd), body, scenario.name, index)
    calls_so_far = _tool_call_count(messages)
    calls = tuple(
        PlannedCall(
            id=spec.id or _new_call_id(profile, spec.name, calls_so_far + i),
            name=spec.name,
            arguments=_encode_arguments(fill_cwd(spec.arguments, cwd)),
        )
        for i, spec in enumerate(turn.tool_calls)
    )
    reasoning = served_reasoning(fill_cwd(turn.reasoning, cwd), index, profile, thinking)
    text = fill_cwd(turn.text, cwd)
    generated = (reasoning or "") + (text or "") + "".join(call.arguments for call in calls)
    return Plan(
        scenario=scenario.name,
        turn_index=index,
        turn=turn,
        reasoning=reasoning,
        text=text,
        tool_calls=calls,
        finish_reason=turn.effective_finish_reason(),
        usage=compute_usage(messages, generated, turn.usage, reasoning or "") if report_tokens else NO_TOKENS,
        profile=profile,
        thinking=thinking,
    )


def served_reasoning(scripted: str | None, index: int, profile: Profile, thinking: bool) -> str | None:
    """None with thinking off or hidden thoughts; else the scripted reasoning, generated if the profile
    always reasons."""
    if not thinking or not profile.sends_reasoning_text:
        return None
    if scripted is None and profile.fills_missing_reasoning:
        return GENERATED_REASONING.format(index=index)
    return scripted


def _tool_call_count(messages: list[dict]) -> int:
    return sum(len(m.get("tool_calls") or []) for m in messages if m.get("role") == "assistant")


def _new_call_id(profile: Profile, name: str, ordinal: int) -> str:
    # `ordinal` counts the calls made so far in the conversation, as Kimi numbers them.
    if profile.tool_call_id is not None:
        return profile.tool_call_id.format(name=name, index=ordinal)
    return f"call_{uuid.uuid4().hex[:24]}"


def _encode_arguments(arguments: dict | str) -> str:
    # Raw strings are sent verbatim so scenarios can script malformed arguments.
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def _check_expect(expected: list[str], body: dict, scenario: str, index: int) -> None:
    haystack = "\n".join(all_strings(body))
    for needle in expected:
        if needle not in haystack:
            raise invalid(
                f"scenario {scenario} turn {index} expected the request to contain {needle!r}",
                param="messages",
            )


def new_completion_id() -> str:
    """A fresh `chatcmpl-...` id."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def render_completion(plan: Plan, model: str) -> dict:
    """The non-streaming `chat.completion` object."""
    message: dict = {"role": "assistant", "content": plan.text, "refusal": None}
    if plan.reasoning is not None:
        message[plan.profile.reasoning_field] = plan.reasoning
    details = plan.reasoning_details()
    if details is not None:
        message["reasoning_details"] = details
    if plan.tool_calls:
        message["tool_calls"] = [
            _with_extra(
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}},
                plan.call_extra(i),
            )
            for i, c in enumerate(plan.tool_calls)
        ]
    choice: dict = {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}
    if plan.turn.matched_stop is not None:
        choice["stop_reason"] = plan.turn.matched_stop
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": render_usage(plan.usage, plan.turn.cache_style, plan.profile.usage),
    }


def split_pieces(text: str | None, count: int) -> list[str]:
    """Split `text` into at most `count` non-empty, nearly equal consecutive pieces."""
    if not text:
        return []
    count = min(count, len(text))
    bounds = [len(text) * i // count for i in range(count + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(count)]


def render_chunks(plan: Plan, model: str, include_usage: bool) -> list[dict]:
    """The `chat.completion.chunk` objects of a streamed answer, in order (without [DONE])."""
    completion_id, created = new_completion_id(), int(time.time())

    def chunk(delta: dict, finish_reason: str | None = None) -> dict:
        choice: dict = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        if finish_reason is not None and plan.turn.matched_stop is not None:
            choice["stop_reason"] = plan.turn.matched_stop
        out = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        if include_usage:
            out["usage"] = None  # OpenAI sends usage: null on every chunk but the last
        return out

    pieces = plan.turn.chunks
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk(d) for d in _reasoning_deltas(plan, pieces)]
    chunks += [chunk({"content": p}) for p in split_pieces(plan.text, pieces)]
    chunks += [chunk({"tool_calls": [d]}) for d in _tool_call_deltas(plan, pieces)]
    chunks.append(chunk({}, plan.finish_reason))
    if include_usage:
        chunks.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": render_usage(plan.usage, plan.turn.cache_style, plan.profile.usage),
            }
        )
    return chunks


def _with_extra(call: dict, extra: dict | None) -> dict:
    return call if extra is None else {**call, "extra_content": extra}


def _reasoning_deltas(plan: Plan, pieces: int) -> list[dict]:
    """The reasoning text in pieces; OpenRouter's details stream alongside, then the rest of them after."""
    texts = split_pieces(plan.reasoning, pieces)
    deltas = [{plan.profile.reasoning_field: text} for text in texts]
    details = plan.reasoning_details()
    if details is not None:
        *with_text, rest = ReasoningDetails.stream_pieces(details, texts)
        deltas = [dict(delta, reasoning_details=d) for delta, d in zip(deltas, with_text)] + [
            {"reasoning_details": rest}
        ]
    return deltas


def _tool_call_deltas(plan: Plan, pieces: int) -> list[dict]:
    # Parallel calls are interleaved round-robin so clients must route pieces by `index`.
    sequences = []
    for index, call in enumerate(plan.tool_calls):
        parts = split_pieces(call.arguments, pieces)
        first_args = parts.pop(0) if plan.turn.first_chunk_args and parts else ""
        header = _with_extra(
            {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": first_args},
            },
            plan.call_extra(index),
        )
        sequences.append([header] + [{"index": index, "function": {"arguments": p}} for p in parts])
    deltas = []
    for step in range(max((len(s) for s in sequences), default=0)):
        deltas += [seq[step] for seq in sequences if step < len(seq)]
    return deltas
