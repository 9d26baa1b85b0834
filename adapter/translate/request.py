"""Anthropic Messages request -> OpenAI ``/chat/completions`` request.

Entry point: :func:`to_openai`.  The translation is a single pass over the validated
request (plus one cheap indexing pass); it never deep-copies and never round-trips
through JSON except to encode tool-call arguments.

Translation rules, in brief (see the tests for exact shapes):

* The top-level ``system`` (string or text blocks) and every ``role: "system"``
  message that precedes the first assistant message form one leading system message
  (joined with a blank line).  System text blocks starting with
  ``x-anthropic-billing-header:`` are dropped: they change every session and would
  defeat the gateway's prefix cache.
* ``role: "system"`` messages after the first assistant message become user text
  wrapped in ``<system-reminder>`` tags, in place.
* Adjacent user/assistant messages are merged so roles alternate; tool messages are
  never merged.
* ``tool_result`` blocks become ``tool`` messages placed right after the assistant
  message that made the call.  Calls without a result get a synthetic ``(no result)``
  answer; results without a preceding call become plain user text.  Images and PDFs
  in tool results move to a user message after the tool messages.
* Tool names are made OpenAI-valid (see :class:`ToolNameMap`);
  ``ResponseContext.tool_names`` lists only the names that changed.  Tool-call ids
  repeated within a conversation get a ``_2``/``_3`` suffix so upstream ids are unique.
* A thinking block whose ``signature`` is a seal of this adapter (see
  :mod:`adapter.reasoning_seal`) gives its assistant message the provider's reasoning
  state back exactly as received: the text in the field it came in, OpenRouter's
  ``reasoning_details`` in order, and each tool call's ``extra_content`` (Gemini's
  thought signature) on that same call; any other thinking block is dropped.  ``thinking`` and
  ``output_config.effort`` become the provider profile's
  own switch (see :mod:`adapter.providers`).
* Redacted thinking, unknown/server blocks, server tools, ``cache_control``,
  ``citations``, ``metadata``, ``top_k`` and any unknown field are dropped.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from adapter.providers import PROFILES, Effort, ProviderProfile, ThinkingMode, client_effort, wants_thinking
from adapter.reasoning_seal import CarriedReasoning, ReasoningSeal
from adapter.translate.context import ResponseContext
from adapter.translate.tool_schema import ToolNameMap, clean_schema
from adapter.wire.anthropic_request import (
    Base64Source,
    ContentSource,
    CountTokensRequest,
    DocumentBlock,
    ImageBlock,
    Message,
    MessagesRequest,
    PlainTextSource,
    TextBlock,
    ThinkingBlock,
    ToolReferenceBlock,
    ToolResultBlock,
    ToolUseBlock,
    UrlSource,
)
from adapter.wire.openai_request import ChatRequest

__all__ = [
    "BILLING_HEADER_PREFIX",
    "NO_OUTPUT",
    "NO_RESULT",
    "TranslatedRequest",
    "UpstreamTarget",
    "to_openai",
]

BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
# Tool message content for a result that carried no text (empty content is rejected
# by several gateways).
NO_OUTPUT = "(no output)"
# Synthetic answer for a tool call the conversation never answered.
NO_RESULT = "(no result)"
IMAGE_PLACEHOLDER = "[image attached below]"
DOCUMENT_PLACEHOLDER = "[document attached below]"
UNSUPPORTED_IMAGE = "[image omitted: unsupported source]"
UNSUPPORTED_DOCUMENT = "[document omitted: unsupported source]"

_TEXT_JOIN = "\n\n"
_RESULT_JOIN = "\n"


@dataclass(frozen=True)
class UpstreamTarget:
    """Where the request goes: the upstream model, its output-token ceiling, and how its provider thinks."""

    model: str
    max_output_tokens: int
    profile: ProviderProfile = PROFILES["generic"]
    thinking: ThinkingMode = "auto"
    effort: Effort | None = None  # None: the effort the client asks for
    # Seals the provider's reasoning into thinking signatures and opens them; None: reasoning is not carried.
    seal: ReasoningSeal | None = None


@dataclass
class TranslatedRequest:
    # The upstream request exactly as it is sent; built to ChatRequest's shape (the fuzz tests hold it to it).
    payload: dict[str, Any]
    context: ResponseContext

    @functools.cached_property
    def body(self) -> ChatRequest:
        """The payload as a validated ChatRequest (for tests and tools; the hot path sends the dict)."""
        return ChatRequest.model_validate(self.payload)


# The output is assembled as plain dicts and validated into ``ChatRequest`` once at
# the end: one pass through pydantic-core is much cheaper than building each nested
# model separately.

# A user content part under construction: plain text, or a finished image/file part.
_Part = str | dict[str, Any]


class _User:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[_Part] = []


class _Assistant:
    __slots__ = ("texts", "calls", "reasoning", "details", "call_extras")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls: list[dict[str, Any]] = []
        # message field -> the provider's reasoning pieces, in order
        self.reasoning: dict[str, list[str]] = {}
        self.details: list[dict[str, Any]] = []  # OpenRouter reasoning_details, in order
        self.call_extras: dict[str, dict[str, Any]] = {}  # client tool_use id -> the call's extra_content

    def carry(self, carried: CarriedReasoning) -> None:
        """Take back one thinking block's reasoning state."""
        if carried.text:
            self.reasoning.setdefault(carried.field, []).append(carried.text)
        self.details.extend(carried.details)
        self.call_extras.update(carried.call_extras)


# User turn, assistant turn, or a finished tool message.
_Entry = _User | _Assistant | dict[str, Any]

_dump_arguments = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def to_openai(request: MessagesRequest | CountTokensRequest, target: UpstreamTarget) -> TranslatedRequest:
    """Translate a validated Anthropic request into the upstream chat request.

    ``request`` may also be a :class:`CountTokensRequest` (no sampling fields); the
    result then asks for ``target.max_output_tokens`` and does not stream.
    """
    messages = request.messages

    # ---- pass 1: index tool results and tool names used in history -------------
    first_assistant = len(messages)
    results: dict[str, list[tuple[int, int, ToolResultBlock]]] = {}
    history_names: list[str] = []
    for i, message in enumerate(messages):
        content = message.content
        if message.role == "assistant":
            if i < first_assistant:
                first_assistant = i
            if not isinstance(content, str):
                for block in content:
                    if type(block) is ToolUseBlock:
                        history_names.append(block.name)
        elif message.role == "user" and not isinstance(content, str):
            for k, block in enumerate(content):
                if type(block) is ToolResultBlock:
                    results.setdefault(block.tool_use_id, []).append((i, k, block))

    custom_tools = [tool for tool in request.tools or () if tool.is_custom]
    names = ToolNameMap([tool.name for tool in custom_tools] + history_names)

    # ---- pass 2: messages -------------------------------------------------------
    state = _State(names, results, target)
    system_texts = _system_texts(request.system)
    for i, message in enumerate(messages):
        if message.role == "system":
            texts = _system_texts(message.content)
            if i < first_assistant:
                system_texts.extend(texts)
            elif texts:
                state.user_parts([_reminder(_TEXT_JOIN.join(texts))])
        elif message.role == "assistant":
            state.assistant(i, message)
        else:
            state.user(message)

    out_messages: list[dict[str, Any]] = []
    if system_texts:
        out_messages.append({"role": "system", "content": _TEXT_JOIN.join(system_texts)})
    out_messages.extend([_finish(entry) for entry in state.entries])

    # ---- tools ------------------------------------------------------------------
    tools: list[dict[str, Any]] = []
    tool_names: set[str] = set()
    for tool in custom_tools:
        name = names.upstream(tool.name)
        if name in tool_names:
            continue  # duplicate definition; upstreams reject repeated names
        tool_names.add(name)
        function: dict[str, Any] = {"name": name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = clean_schema(tool.input_schema)
        tools.append({"type": "function", "function": function})

    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    choice = request.tool_choice
    if tools and choice is not None:
        if choice.type == "any":
            tool_choice = "required"
        elif choice.type == "none":
            tool_choice = "none"
        elif choice.type == "tool" and choice.name is not None:
            name = names.upstream(choice.name)
            # A forced tool the upstream does not know would be rejected: degrade to auto.
            if name in tool_names:
                tool_choice = {"type": "function", "function": {"name": name}}
            else:
                tool_choice = "auto"
        else:
            tool_choice = "auto"
        if choice.disable_parallel_tool_use:
            parallel_tool_calls = False

    # ---- sampling ---------------------------------------------------------------
    requested = getattr(request, "max_tokens", None)
    max_tokens = target.max_output_tokens if requested is None else min(requested, target.max_output_tokens)
    stop_sequences = getattr(request, "stop_sequences", None) or []
    stream = bool(getattr(request, "stream", None))

    payload: dict[str, Any] = {
        "model": target.model,
        "messages": out_messages,
        "max_tokens": max_tokens,
    }
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    temperature = getattr(request, "temperature", None)
    if temperature is not None:
        payload["temperature"] = temperature
    top_p = getattr(request, "top_p", None)
    if top_p is not None:
        payload["top_p"] = top_p
    if stop_sequences:
        payload["stop"] = list(stop_sequences)
    if tools:
        payload["tools"] = tools
        if tool_choice is not None:
            payload["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            payload["parallel_tool_calls"] = parallel_tool_calls
    payload.update(_thinking_fields(request, target))
    seal = target.seal
    context = ResponseContext(
        request_model=request.model,
        tool_names=names.changed(),
        stop_sequences=tuple(stop_sequences),
        seal_reasoning=functools.partial(seal.seal, target.profile.name) if seal is not None else None,
    )
    return TranslatedRequest(payload=payload, context=context)


def _thinking_fields(request: MessagesRequest | CountTokensRequest, target: UpstreamTarget) -> dict[str, Any]:
    """The profile's own thinking switch and effort, from the model map's choice or what the client asked."""
    on = wants_thinking(target.thinking, request.thinking)
    if on is None:
        return {}  # the provider's default
    effort = target.effort or client_effort(request.model_extra)
    return target.profile.thinking_fields(on, effort if on else None)


# --------------------------------------------------------------------------- state


class _State:
    """Accumulates output entries, merging adjacent user/assistant turns."""

    __slots__ = ("names", "results", "target", "entries", "consumed", "call_ids")

    def __init__(
        self,
        names: ToolNameMap,
        results: dict[str, list[tuple[int, int, ToolResultBlock]]],
        target: UpstreamTarget,
    ) -> None:
        self.names = names
        self.results = results
        self.target = target
        self.entries: list[_Entry] = []
        # id() of tool_result blocks already emitted as tool messages.
        self.consumed: set[int] = set()
        # Tool-call ids sent so far (ids must be unique upstream).
        self.call_ids: set[str] = set()

    # -- emission helpers

    def user_parts(self, parts: list[_Part]) -> None:
        parts = [part for part in parts if part != ""]
        if not parts:
            return
        last = self.entries[-1] if self.entries else None
        if isinstance(last, _User):
            last.parts.extend(parts)
        else:
            entry = _User()
            entry.parts = parts
            self.entries.append(entry)

    def _assistant_entry(self) -> _Assistant:
        last = self.entries[-1] if self.entries else None
        # An assistant entry with calls is always followed by its tool messages, so a
        # trailing assistant entry never has calls and can absorb the next turn.
        if isinstance(last, _Assistant):
            return last
        entry = _Assistant()
        self.entries.append(entry)
        return entry

    # -- turns

    def assistant(self, index: int, message: Message) -> None:
        content = message.content
        if isinstance(content, str):
            if content:
                self._assistant_entry().texts.append(content)
            return
        texts: list[str] = []
        uses: list[tuple[str, ToolUseBlock]] = []
        reasoning: list[CarriedReasoning] = []
        for block in content:
            if type(block) is TextBlock:
                if block.text:
                    texts.append(block.text)
            elif type(block) is ToolUseBlock:
                uses.append((self._call_id(block.id), block))
            elif type(block) is ThinkingBlock:
                carried = self._carried(block)
                if carried is not None:
                    reasoning.append(carried)
            # redacted_thinking, server blocks, misplaced user blocks: dropped
        if not texts and not uses and not reasoning:
            return
        entry = self._assistant_entry()
        entry.texts.extend(texts)
        for carried in reasoning:
            entry.carry(carried)
        if not uses:
            return
        upstream = self.names.upstream
        for call_id, block in uses:
            call: dict[str, Any] = {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": upstream(block.name),
                    "arguments": _dump_arguments(block.input),
                },
            }
            extra = entry.call_extras.get(block.id)
            if extra is not None:
                call["extra_content"] = extra
            entry.calls.append(call)
        self._answer(index, uses)

    def _carried(self, block: ThinkingBlock) -> CarriedReasoning | None:
        seal = self.target.seal
        return seal.open(block.signature, self.target.profile.name) if seal is not None else None

    def _call_id(self, original: str) -> str:
        call_id = original or "call"
        if call_id in self.call_ids:
            n = 2
            while f"{call_id}_{n}" in self.call_ids:
                n += 1
            call_id = f"{call_id}_{n}"
        self.call_ids.add(call_id)
        return call_id

    def _answer(self, index: int, uses: list[tuple[str, ToolUseBlock]]) -> None:
        """Emit one tool message per call, right after the assistant turn."""
        found: list[tuple[int, int, str, ToolResultBlock]] = []
        missing: list[str] = []
        for call_id, block in uses:
            for i, k, result in self.results.get(block.id, ()):
                if i > index and id(result) not in self.consumed:
                    self.consumed.add(id(result))
                    found.append((i, k, call_id, result))
                    break
            else:
                missing.append(call_id)
        # Results in the order the client listed them, then synthetic answers.
        found.sort(key=lambda item: (item[0], item[1]))
        attachments: list[_Part] = []
        for _, _, call_id, result in found:
            text, media = self._result_payload(result)
            self.entries.append({"role": "tool", "tool_call_id": call_id, "content": text})
            if media:
                attachments.append(f"Attachments from tool call {call_id}:")
                attachments.extend(media)
        for call_id in missing:
            self.entries.append({"role": "tool", "tool_call_id": call_id, "content": NO_RESULT})
        self.user_parts(attachments)

    def user(self, message: Message) -> None:
        content = message.content
        if isinstance(content, str):
            if content:
                self.user_parts([content])
            return
        parts: list[_Part] = []
        for block in content:
            if type(block) is TextBlock:
                if block.text:
                    parts.append(block.text)
            elif type(block) is ImageBlock:
                parts.append(_image_part(block))
            elif type(block) is DocumentBlock:
                parts.extend(_document_parts(block))
            elif type(block) is ToolResultBlock:
                if id(block) in self.consumed:
                    continue
                # No preceding call took this result: keep it as plain text.
                text, media = self._result_payload(block)
                parts.append(f"Tool result for {block.tool_use_id}: {text}")
                parts.extend(media)
            # tool_use, thinking, server blocks in a user turn: dropped
        self.user_parts(parts)

    def _result_payload(self, block: ToolResultBlock) -> tuple[str, list[_Part]]:
        """Text for the tool message, plus media that must travel in a user message."""
        content = block.content
        media: list[_Part] = []
        if content is None:
            text = ""
        elif isinstance(content, str):
            text = content
        else:
            lines: list[str] = []
            for item in content:
                if type(item) is TextBlock:
                    lines.append(item.text)
                elif type(item) is ImageBlock:
                    part = _image_part(item)
                    if isinstance(part, str):
                        lines.append(part)
                    else:
                        lines.append(IMAGE_PLACEHOLDER)
                        media.append(part)
                elif type(item) is DocumentBlock:
                    for part in _document_parts(item):
                        if isinstance(part, str):
                            lines.append(part)
                        else:
                            lines.append(
                                IMAGE_PLACEHOLDER if part["type"] == "image_url" else DOCUMENT_PLACEHOLDER
                            )
                            media.append(part)
                elif type(item) is ToolReferenceBlock:
                    lines.append(f"Tool available: {self.names.upstream(item.tool_name)}")
            text = _RESULT_JOIN.join(lines)
        if not text.strip():
            text = NO_OUTPUT
        if block.is_error and not text.startswith("Error"):
            text = f"Error: {text}"
        return text, media


# --------------------------------------------------------------------------- helpers


def _system_texts(content: str | list[Any] | None) -> list[str]:
    """Non-empty system texts, without the per-session billing header block."""
    if not content:
        return []
    if isinstance(content, str):
        return [] if content.startswith(BILLING_HEADER_PREFIX) else [content]
    return [
        block.text
        for block in content
        if type(block) is TextBlock and block.text and not block.text.startswith(BILLING_HEADER_PREFIX)
    ]


def _reminder(text: str) -> str:
    if text.lstrip().startswith("<system-reminder>"):
        return text
    return f"<system-reminder>\n{text}\n</system-reminder>"


def _image_part(block: ImageBlock) -> _Part:
    source = block.source
    if type(source) is Base64Source:
        url = f"data:{source.media_type};base64,{source.data}"
    elif type(source) is UrlSource:
        url = source.url
    else:
        return UNSUPPORTED_IMAGE
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: DocumentBlock) -> list[_Part]:
    source = block.source
    header = [text for text in (block.title, block.context) if text]
    if type(source) is Base64Source:
        media_type = source.media_type
        filename = "document.pdf" if media_type == "application/pdf" else "document"
        part = {
            "type": "file",
            "file": {
                "filename": filename,
                "file_data": f"data:{media_type};base64,{source.data}",
            },
        }
        return [_TEXT_JOIN.join(header), part] if header else [part]
    if type(source) is PlainTextSource:
        return [_TEXT_JOIN.join([*header, source.data])]
    if type(source) is UrlSource:
        return [_TEXT_JOIN.join([*header, f"Document URL: {source.url}"])]
    if type(source) is ContentSource:
        inner = source.content
        if isinstance(inner, str):
            return [_TEXT_JOIN.join([*header, inner])] if (header or inner) else []
        parts: list[_Part] = [_TEXT_JOIN.join(header)] if header else []
        for item in inner:
            if type(item) is TextBlock:
                if item.text:
                    parts.append(item.text)
            elif type(item) is ImageBlock:
                parts.append(_image_part(item))
        return parts
    return [_TEXT_JOIN.join([*header, UNSUPPORTED_DOCUMENT])]


def _finish(entry: _Entry) -> dict[str, Any]:
    if isinstance(entry, dict):
        return entry
    if isinstance(entry, _Assistant):
        message: dict[str, Any] = {"role": "assistant"}
        if entry.texts:
            message["content"] = _TEXT_JOIN.join(entry.texts)
        for field, pieces in entry.reasoning.items():
            message[field] = "".join(pieces)
        if entry.details:
            message["reasoning_details"] = entry.details
        if entry.calls:
            message["tool_calls"] = entry.calls
        return message
    parts = entry.parts
    if all(isinstance(part, str) for part in parts):
        return {"role": "user", "content": _TEXT_JOIN.join(parts)}  # type: ignore[arg-type]
    return {
        "role": "user",
        "content": [{"type": "text", "text": part} if isinstance(part, str) else part for part in parts],
    }
