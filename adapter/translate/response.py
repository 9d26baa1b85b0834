"""Non-streaming answer: OpenAI ``ChatCompletion`` -> Anthropic ``Message``.

Content order is thinking (from ``reasoning_content``) -> text -> tool_use blocks, the
order Anthropic models produce.  When reasoning is carried, the thinking block's signature
seals the provider's whole reasoning state (text, ``reasoning_details``, each call's
``extra_content``); a state without text still gets an empty thinking block to carry it.  Tool names are
mapped back to the client's names, tool
call ids are kept (or generated as ``toolu_...`` when missing or repeated), and tool
arguments are decoded leniently: a model's malformed JSON must never fail the request.

The tool-argument helpers here are shared with the streaming translator.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from adapter.providers import REASONING, REASONING_CONTENT
from adapter.reasoning_seal import CarriedReasoning
from adapter.translate.context import ResponseContext
from adapter.translate.stop_reason import to_anthropic_stop
from adapter.translate.usage import from_openai
from adapter.wire.anthropic_response import (
    ContentBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)
from adapter.wire.openai_response import ChatCompletion, ChatMessage, Choice, ToolCall

RAW_ARGUMENTS_KEY = "_raw_arguments"

_decoder = json.JSONDecoder()
_PARTIAL_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{0,3}$")
_CLOSERS = {"{": "}", "[": "]"}


def new_tool_use_id() -> str:
    """A fresh Anthropic-style tool use id."""
    return "toolu_" + uuid.uuid4().hex[:24]


# --------------------------------------------------------------------------- arguments


def _as_object(value: Any) -> dict[str, Any] | None:
    """A decoded arguments value as a tool input object, or None if it is not one."""
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    if isinstance(value, str):
        # Double-encoded arguments: "{\"a\": 1}".
        inner = value.strip()
        if inner.startswith("{"):
            try:
                decoded = json.loads(inner)
            except ValueError:
                return None
            if isinstance(decoded, dict):
                return decoded
    return None


def _scan(text: str) -> tuple[bool, bool, list[str], int, list[str] | None, int]:
    """Walk ``text`` (starting at an opening brace) outside of JSON strings.

    Returns (in_string, escape_pending, open_stack, end, stack_at_last_comma, last_comma):
    ``end`` is the index just after the point where the outermost value closed (or
    ``len(text)`` if it never closed); ``open_stack`` holds the unclosed openers.
    """
    stack: list[str] = []
    in_string = False
    escape = False
    last_comma = -1
    stack_at_comma: list[str] | None = None
    for i, ch in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            if not stack or _CLOSERS[stack[-1]] != ch:
                return False, False, stack, i, stack_at_comma, last_comma
            stack.pop()
            if not stack:
                return False, False, stack, i + 1, stack_at_comma, last_comma
        elif ch == ",":
            last_comma = i
            stack_at_comma = list(stack)
    return in_string, escape, stack, len(text), stack_at_comma, last_comma


def _closers(stack: list[str]) -> str:
    return "".join(_CLOSERS[opener] for opener in reversed(stack))


def _strip_trailing_commas(text: str) -> str:
    """Remove commas directly before a closing bracket, outside strings."""
    if "," not in text:
        return text
    out: list[str] = []
    in_string = False
    escape = False
    for ch in text:
        if in_string:
            out.append(ch)
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            continue
        if ch in "}]":
            j = len(out) - 1
            while j >= 0 and out[j] in " \t\r\n":
                j -= 1
            if j >= 0 and out[j] == ",":
                del out[j]
        elif ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out)


def _try_object(candidate: str) -> dict[str, Any] | None:
    try:
        value = json.loads(candidate)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _string_closer(body: str, in_string: bool, escape: bool) -> str:
    """``body`` with an unterminated string closed (dropping a cut-off escape)."""
    if not in_string:
        return body
    if escape:
        body = body[:-1]
    else:
        body = _PARTIAL_UNICODE_ESCAPE.sub("", body)
    return body + '"'


def repair_json_object(text: str) -> dict[str, Any] | None:
    """Best-effort decoding of a malformed JSON object; None when nothing sensible remains.

    Handles markdown code fences, leading prose, trailing junk after the object
    (``{"a":1}}`` or ``{"a":1}<|end|>``), trailing commas, and output truncated mid-way
    (unterminated strings, unclosed braces, a dangling ``,`` / ``:`` / key, or a cut-off
    last member).
    """
    text = text.strip()
    if text.startswith("```"):
        newline = text.find("\n")
        text = text[newline + 1 :] if newline >= 0 else text.lstrip("`")
        text = text.rstrip()
        if text.endswith("```"):
            text = text[:-3]
    start = text.find("{")
    if start < 0:
        return None
    text = text[start:]

    # Complete object followed by junk.
    try:
        value, _ = _decoder.raw_decode(text)
    except ValueError:
        pass
    else:
        if isinstance(value, dict):
            return value

    in_string, escape, stack, end, stack_at_comma, last_comma = _scan(text)
    body = text[:end]
    if not stack and not in_string:
        # Closed (or hit a mismatched bracket): only trailing commas can still be wrong.
        return _try_object(_strip_trailing_commas(body))

    # Truncated: close what is open.
    closed = _string_closer(body, in_string, escape).rstrip()
    closers = _closers(stack)
    candidates = [closed + closers]
    trimmed = closed.rstrip(",").rstrip()
    if trimmed.endswith(":"):
        candidates.append(trimmed + "null" + closers)
        # Drop the dangling key altogether.
        candidates.append(re.sub(r',?\s*"(?:[^"\\]|\\.)*"\s*:$', "", trimmed) + closers)
    else:
        candidates.append(trimmed + closers)
        # A key without its colon: {"a": 1, "b"
        candidates.append(re.sub(r',?\s*"(?:[^"\\]|\\.)*"$', "", trimmed) + closers)
    if last_comma >= 0 and stack_at_comma:
        # Drop the cut-off last member.
        candidates.append(body[:last_comma] + _closers(stack_at_comma))
    for candidate in candidates:
        repaired = _try_object(_strip_trailing_commas(candidate))
        if repaired is not None:
            return repaired
    return None


def completion_suffix(text: str) -> str | None:
    """What to append to truncated JSON ``text`` so that it decodes to an object.

    Used by the streaming translator, which has already sent ``text`` and can only add.
    Returns "" when ``text`` is already a valid object and None when appending cannot help.
    """
    stripped = text.strip()
    if not stripped:
        return None
    if _try_object(stripped) is not None:
        return ""
    start = stripped.find("{")
    if start != 0:
        return None
    in_string, escape, stack, end, _, _ = _scan(stripped)
    if end != len(stripped) or not stack:
        return None
    closers = _closers(stack)
    if in_string:
        if escape:
            # A lone backslash: complete it as an escaped backslash.
            string_close = '\\"'
        elif _PARTIAL_UNICODE_ESCAPE.search(stripped):
            missing = 4 - (len(_PARTIAL_UNICODE_ESCAPE.search(stripped).group(0)) - 2)
            string_close = "0" * missing + '"'
        else:
            string_close = '"'
    else:
        string_close = ""
    for middle in ("", "null", ":null", '"":null', '"_":null'):
        suffix = string_close + middle + closers
        if _try_object(stripped + suffix) is not None:
            return suffix
    return None


def parse_tool_arguments(raw: Any) -> dict[str, Any]:
    """Tool call ``function.arguments`` -> Anthropic ``tool_use.input`` (always an object).

    Empty or whitespace-only arguments give ``{}``; valid JSON objects are used as is;
    invalid JSON is repaired when possible, else kept as ``{"_raw_arguments": raw}``.
    """
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return {RAW_ARGUMENTS_KEY: json.dumps(raw, ensure_ascii=False, default=str)}
    text = raw.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        repaired = repair_json_object(text)
        # A repair that salvages nothing ('{"ab' -> {}) would hide what the model sent.
        return repaired if repaired else {RAW_ARGUMENTS_KEY: raw}
    obj = _as_object(value)
    return obj if obj is not None else {RAW_ARGUMENTS_KEY: raw}


# --------------------------------------------------------------------------- message


def _primary_choice(completion: ChatCompletion) -> Choice | None:
    if not completion.choices:
        return None
    for choice in completion.choices:
        if choice.index == 0:
            return choice
    return completion.choices[0]


def _tool_calls(choice: Choice) -> list[ToolCall]:
    calls = list(choice.message.tool_calls or ())
    if not calls and choice.message.function_call is not None:
        calls.append(ToolCall(function=choice.message.function_call))
    return calls


def _thinking_block(
    message: ChatMessage, call_extras: dict[str, dict[str, Any]], context: ResponseContext
) -> ThinkingBlock | None:
    """The thinking block for the message's reasoning, sealing its state when reasoning is carried."""
    text = message.thinking_text or ""
    if not text.strip():
        text = ""
    carried = CarriedReasoning(
        field=REASONING_CONTENT if message.reasoning_content else REASONING,
        text=text,
        details=tuple(message.reasoning_details or ()),
        call_extras=call_extras,
    )
    if text or (context.carries_reasoning and not carried.empty):
        return ThinkingBlock(thinking=text, signature=context.signature(carried))
    return None


def to_anthropic_message(
    completion: ChatCompletion | dict[str, Any],
    context: ResponseContext,
    message_id: str,
) -> Message:
    """Translate a complete upstream answer into an Anthropic ``Message``."""
    if not isinstance(completion, ChatCompletion):
        completion = ChatCompletion.model_validate(completion)
    choice = _primary_choice(completion)
    content: list[ContentBlock] = []
    tool_blocks: list[ToolUseBlock] = []
    finish_reason: str | None = None
    matched_stop: str | int | None = None

    if choice is not None:
        message = choice.message
        finish_reason = choice.finish_reason
        matched_stop = choice.stop_reason

        text = message.content
        if not (text and text.strip()) and message.refusal:
            text = message.refusal
        if text and text.strip():
            content.append(TextBlock(text=text))

        seen_ids: set[str] = set()
        call_extras: dict[str, dict[str, Any]] = {}
        for call in _tool_calls(choice):
            function = call.function
            name = function.name if function is not None else None
            if not name:
                # Nothing the client could run; dropping beats inventing a tool name.
                continue
            call_id = call.id
            if not call_id or call_id in seen_ids:
                call_id = new_tool_use_id()
            seen_ids.add(call_id)
            if call.extra_content:
                call_extras[call_id] = call.extra_content
            tool_blocks.append(
                ToolUseBlock(
                    id=call_id,
                    name=context.original_tool_name(name),
                    input=parse_tool_arguments(function.arguments),
                )
            )
        content.extend(tool_blocks)
        thinking = _thinking_block(message, call_extras, context)
        if thinking is not None:
            content.insert(0, thinking)

    if not content:
        # Clients reject an empty content list.
        content.append(TextBlock(text=""))

    stop_reason, stop_sequence = to_anthropic_stop(finish_reason, bool(tool_blocks), matched_stop, context)
    usage = from_openai(completion.usage)
    return Message(
        id=message_id,
        model=context.request_model,
        content=content,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=0,
            cache_read_input_tokens=usage.cache_read_input_tokens,
        ),
    )
