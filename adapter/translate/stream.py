"""Streaming answer: OpenAI ``chat.completion.chunk`` dicts -> Anthropic SSE events.

``StreamTranslator`` is a small state machine driven by the app::

    t = StreamTranslator(context, message_id)
    send(t.start())                 # message_start, right away
    for chunk in upstream:          # already JSON-decoded dicts
        send(t.feed(chunk))         # zero or more events
    send(t.finish())                # close blocks, message_delta, message_stop
    # or, if the upstream stream breaks:  send(t.fail("api_error", "..."))

Blocks
------
``reasoning_content`` (or ``reasoning``) deltas become a ``thinking`` block, ``content``
deltas a ``text`` block, and each OpenAI tool call (told apart by ``index``, or by ``id``
when a gateway reuses an index) a ``tool_use`` block whose ``input_json_delta`` pieces
are the argument pieces as they arrive.  Anthropic blocks cannot interleave: exactly one
is open at a time and they are numbered 0, 1, 2... in the order they are opened.

Ordering policy
---------------
Blocks wait in a queue in order of first appearance.  When a delta belongs to a block
that is not the open one, the open block is closed and the next queued one opened --
but only when the open block is *closable*:

* a text or thinking block always is (more text later simply starts a new text block);
* a tool_use block is closable once its accumulated arguments form a complete JSON
  object.  Until then deltas for other blocks (e.g. parallel calls whose argument
  pieces arrive interleaved by index 0, 1, 0, 1) are buffered; a buffered block is
  opened later with all its pieces sent as one delta, and then continues live.
  (A call that has no argument pieces yet is not closable either, so calls after it
  wait -- at worst until ``finish()`` -- rather than risk splitting its arguments.)

This keeps the common, sequential stream fully live while guaranteeing that each call's
argument pieces are emitted in order and contiguously inside its own block.  A piece
arriving for a tool call whose block was already closed can only follow a complete JSON
object (or come after ``finish()``); it is dropped, which is also what the non-streaming
repair does with junk after a complete object.  A tool call whose name never arrives is
dropped.  At ``finish()`` a tool block whose arguments were cut off (e.g. ``length``)
gets a final delta that closes the open strings/brackets when that makes valid JSON.

Reasoning state
---------------
When the context carries reasoning, each thinking block's ``signature_delta`` (sent as it
closes) seals the state gathered while it was the current thinking block: its text,
OpenRouter ``reasoning_details`` fragments (merged by ``index`` as they stream), and the
``extra_content`` of tool calls that arrived meanwhile (Gemini's thought signature, keyed
by the call's final tool_use id).  State that arrives with no current thinking block --
a Gemini call signature without visible reasoning -- opens an empty one to carry it.

Whitespace-only ``content`` or reasoning deltas do not open a block; they are carried
into the next block of that kind if one opens.  A call without argument pieces sends no
``input_json_delta`` (the client reads that as ``{}``).  If nothing at all came back,
``finish()`` emits one empty text block, as the non-streaming path does.

Usage may come with the finish chunk or in a later ``choices: []`` chunk; the last usage
seen wins, and ``finish_reason`` is only recorded -- everything final is sent by
``finish()``.  An in-stream ``{"error": ...}`` chunk (OneAPI / New API) turns into
``fail()``.  No pydantic is used per chunk.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _jstr
from typing import Any

from adapter.providers import REASONING, REASONING_CONTENT
from adapter.reasoning_seal import CarriedReasoning
from adapter.translate.context import ResponseContext
from adapter.translate.response import completion_suffix, new_tool_use_id
from adapter.translate.stop_reason import to_anthropic_stop
from adapter.translate.upstream_error import anthropic_error_for_status
from adapter.translate.usage import Usage, from_openai

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

PING = b'event: ping\ndata: {"type":"ping"}\n\n'

_DELTA_HEAD = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_MID = ',"delta":{"type":"text_delta","text":'
_THINKING_MID = ',"delta":{"type":"thinking_delta","thinking":'
_SIGNATURE_MID = ',"delta":{"type":"signature_delta","signature":'
_JSON_MID = ',"delta":{"type":"input_json_delta","partial_json":'
_DELTA_TAIL = "}}\n\n"
_STOP_HEAD = 'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
_STOP_TAIL = "}\n\n"
_START_HEAD = 'event: content_block_start\ndata: {"type":"content_block_start","index":'

_TEXT, _THINKING, _TOOL = 0, 1, 2
_DETAIL_TEXT_KEYS = ("text", "summary")  # reasoning_details fields that stream in pieces
_MIDS = {_TEXT: _TEXT_MID, _THINKING: _THINKING_MID, _TOOL: _JSON_MID}


def _event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {_dumps(payload)}\n\n"


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a broken upstream
        return text.encode("utf-8", errors="replace")


class _Block:
    __slots__ = (
        "kind",
        "index",
        "pending",
        "closed",
        "call_id",
        "name",
        "args",
        "tail",
        "sent_json",
        "tool_use_id",
    )

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.index = -1  # Anthropic block index once opened
        self.pending: list[str] = []  # pieces received before the block was opened
        self.closed = False
        # tool_use only
        self.call_id: str | None = None
        self.name: str | None = None
        self.args: list[str] = []  # every argument piece, for completeness checks
        self.tail = ""  # last non-whitespace character of the arguments
        self.sent_json = False  # a non-whitespace argument piece was emitted
        self.tool_use_id: str | None = None  # the id sent to the client, fixed on first use


class _Carry:
    """The reasoning state of the current thinking block, sealed into its signature when it closes."""

    __slots__ = ("pieces", "details", "calls")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.details: list[dict[str, Any]] = []
        self.calls: list[tuple[_Block, dict[str, Any]]] = []  # tool call -> its extra_content

    def add_details(self, fragments: list[Any]) -> None:
        """Merge streamed reasoning_details: a fragment continues the last detail of the same index and
        type."""
        for fragment in fragments:
            if not isinstance(fragment, dict):
                continue
            last = self.details[-1] if self.details else None
            if (
                last is None
                or "index" not in fragment
                or fragment.get("index") != last.get("index")
                or fragment.get("type") != last.get("type")
            ):
                self.details.append(dict(fragment))
                continue
            for key, value in fragment.items():
                if key in _DETAIL_TEXT_KEYS and isinstance(value, str) and isinstance(last.get(key), str):
                    last[key] += value
                elif value is not None:
                    last[key] = value


class StreamTranslator:
    """Translate one upstream chunk stream into one Anthropic SSE event stream."""

    def __init__(self, context: ResponseContext, message_id: str) -> None:
        self.context = context
        self.message_id = message_id
        self._started = False
        self._done = False  # finished or failed
        self._failed = False
        self._next_index = 0
        self._open: _Block | None = None
        self._queue: list[_Block] = []  # blocks seen but not opened yet, in order
        self._text: _Block | None = None  # current (not closed) text block
        self._thinking: _Block | None = None  # current (not closed) thinking block
        self._ws_text = ""
        self._ws_thinking = ""
        self._reasoning_field = REASONING_CONTENT  # the delta field reasoning arrives in
        # Kept only when the context seals; a new thinking block starts only after the last one closed.
        self._sealing = context.carries_reasoning
        self._carry = _Carry()
        self._calls_by_index: dict[int, _Block] = {}
        self._calls_by_id: dict[str, _Block] = {}
        self._last_call: _Block | None = None
        self._used_ids: set[str] = set()
        self._tool_blocks = 0
        self._finish_reason: str | None = None
        self._matched_stop: str | int | None = None
        self._raw_usage: Any = None
        self._usage: Usage | None = None
        self.dropped_pieces = 0  # argument pieces that arrived after their block closed

    # ------------------------------------------------------------------ public API

    @property
    def usage(self) -> Usage:
        """Usage from the last usage object seen so far (zeros before any)."""
        if self._usage is None:
            self._usage = from_openai(self._raw_usage)
        return self._usage

    @property
    def finish_reason(self) -> str | None:
        return self._finish_reason

    @property
    def started(self) -> bool:
        return self._started

    @property
    def done(self) -> bool:
        """True after ``finish()`` or ``fail()``; later calls return b""."""
        return self._done

    def start(self) -> bytes:
        """The ``message_start`` event (empty content, zero usage)."""
        if self._started:
            return b""
        self._started = True
        return _encode(self._message_start())

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """Events for one decoded upstream chunk (often b"")."""
        if self._done or not isinstance(chunk, dict):
            return b""
        out: list[str] = []
        if not self._started:
            self._started = True
            out.append(self._message_start())

        usage = chunk.get("usage")
        if usage:
            self._raw_usage = usage
            self._usage = None

        choices = chunk.get("choices")
        if choices:
            try:
                for choice in choices:
                    if choice.get("index", 0):
                        continue  # n > 1: only the first choice is relayed
                    delta = choice.get("delta") or choice.get("message")
                    if delta:
                        self._feed_delta(delta, out)
                    finish = choice.get("finish_reason")
                    if finish:
                        self._finish_reason = str(finish)
                    matched = choice.get("stop_reason")
                    if matched is not None:
                        self._matched_stop = matched
            except (AttributeError, TypeError):
                # A malformed part of a chunk (not an object where one belongs) is skipped;
                # every event already produced stays consistent with the state.
                pass
        elif "error" in chunk and chunk["error"]:
            return _encode("".join(out)) + self._fail_from_chunk(chunk["error"])

        if not out:
            return b""
        return _encode("".join(out))

    def finish(self) -> bytes:
        """Close the open block, then ``message_delta`` and ``message_stop``."""
        if self._done:
            return b""
        self._done = True
        out: list[str] = []
        if not self._started:
            self._started = True
            out.append(self._message_start())
        if self._open is not None:
            self._close(self._open, out)
        for block in self._queue:
            if block.kind == _TOOL and not block.name:
                continue  # never learned which tool to call
            self._open_block(block, out)
            self._close(block, out)
        self._queue.clear()
        if self._next_index == 0:
            out.append(_START_HEAD + '0,"content_block":{"type":"text","text":""}}\n\n')
            out.append(_STOP_HEAD + "0" + _STOP_TAIL)
            self._next_index = 1

        stop_reason, stop_sequence = to_anthropic_stop(
            self._finish_reason, self._tool_blocks > 0, self._matched_stop, self.context
        )
        usage = self.usage
        out.append(
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": {
                        "input_tokens": usage.input_tokens,
                        "output_tokens": usage.output_tokens,
                        "cache_read_input_tokens": usage.cache_read_input_tokens,
                    },
                },
            )
        )
        out.append('event: message_stop\ndata: {"type":"message_stop"}\n\n')
        return _encode("".join(out))

    def fail(self, error_type: str, message: str) -> bytes:
        """An ``error`` event; nothing is closed and nothing may follow it."""
        if self._done:
            return b""
        self._done = True
        self._failed = True
        return _encode(_event("error", {"type": "error", "error": {"type": error_type, "message": message}}))

    # ------------------------------------------------------------------ internals

    def _message_start(self) -> str:
        return _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": self.message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.context.request_model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        )

    def _fail_from_chunk(self, error: Any) -> bytes:
        error_type = "api_error"
        if isinstance(error, dict):
            message = error.get("message") or json.dumps(error, ensure_ascii=False)
            code = error.get("code")
            if isinstance(code, str) and code.isdigit():
                code = int(code)
            if isinstance(code, int) and 400 <= code < 600:
                error_type = anthropic_error_for_status(code)[1]
        else:
            message = str(error)
        return self.fail(error_type, f"upstream stream error: {str(message)[:500]}")

    def _feed_delta(self, delta: dict[str, Any], out: list[str]) -> None:
        reasoning = delta.get(REASONING_CONTENT)
        if not reasoning and delta.get(REASONING):
            reasoning, self._reasoning_field = delta[REASONING], REASONING
        if reasoning and isinstance(reasoning, str):
            if self._sealing:
                self._carry.pieces.append(reasoning)
            self._on_prose(_THINKING, reasoning, out)
        details = delta.get("reasoning_details")
        if details and isinstance(details, list) and self._sealing:
            self._carrying_block(out)
            self._carry.add_details(details)
        content = delta.get("content")
        if content:
            if not isinstance(content, str):
                content = _flatten(content)
            if content:
                self._on_prose(_TEXT, content, out)
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            for call in tool_calls:
                if call:
                    self._on_tool(call, out)
        elif delta.get("function_call"):
            # Legacy single function call: one implicit call.
            self._on_tool({"index": 0, "function": delta["function_call"]}, out)

    def _on_prose(self, kind: int, piece: str, out: list[str]) -> None:
        block = self._text if kind == _TEXT else self._thinking
        if block is self._open and block is not None:
            out.append(f"{_DELTA_HEAD}{block.index}{_MIDS[kind]}{_jstr(piece)}{_DELTA_TAIL}")
            return
        if block is not None:  # queued behind an unfinished tool call
            block.pending.append(piece)
            return
        if piece.isspace():
            if kind == _TEXT:
                self._ws_text += piece
            else:
                self._ws_thinking += piece
            return
        block = _Block(kind)
        if kind == _TEXT:
            self._text = block
            if self._ws_text:
                piece = self._ws_text + piece
                self._ws_text = ""
        else:
            self._thinking = block
            if self._ws_thinking:
                piece = self._ws_thinking + piece
                self._ws_thinking = ""
        block.pending.append(piece)
        self._queue.append(block)
        self._advance(out)

    def _on_tool(self, call: dict[str, Any], out: list[str]) -> None:
        index = call.get("index")
        call_id = call.get("id") or None
        if call_id is not None and type(call_id) is not str:
            call_id = str(call_id)
        function = call.get("function") or {}
        name = function.get("name") or None
        if name is not None and type(name) is not str:
            name = str(name)
        piece = function.get("arguments")

        block = self._calls_by_id.get(call_id) if call_id else None
        if block is None:
            if index is not None:
                known = self._calls_by_index.get(index)
                # A gateway that puts every parallel call at index 0 still gives new ids.
                if known is not None and not (call_id and known.call_id and known.call_id != call_id):
                    block = known
            elif not call_id:
                block = self._last_call
        is_new = block is None
        if is_new:
            block = _Block(_TOOL)
            if index is not None:
                self._calls_by_index[index] = block
        extra = call.get("extra_content")
        if extra and isinstance(extra, dict) and self._sealing:
            self._carrying_block(out)  # before a new call is queued, so the carrier comes first
            self._carry.calls.append((block, extra))
        self._last_call = block
        if call_id and block.call_id is None:
            block.call_id = call_id
            self._calls_by_id[call_id] = block
        named_now = False
        if name and not block.name:
            block.name = name
            named_now = True

        if piece is not None and not isinstance(piece, str):
            piece = _dumps(piece)
        if piece:
            if block.closed:
                if not piece.isspace():
                    self.dropped_pieces += 1
                return
            block.args.append(piece)
            stripped = piece.rstrip()
            if stripped:
                block.tail = stripped[-1]
            if block is self._open:
                if block.sent_json or not piece.isspace():
                    block.sent_json = True
                    out.append(f"{_DELTA_HEAD}{block.index}{_JSON_MID}{_jstr(piece)}{_DELTA_TAIL}")
                if self._queue and block.tail == "}":
                    self._advance(out)
                return
            block.pending.append(piece)

        if is_new:
            self._queue.append(block)
            self._advance(out)
        elif named_now and self._queue and self._queue[0] is block:
            self._advance(out)

    def _carrying_block(self, out: list[str]) -> None:
        """Make sure a thinking block is current to carry reasoning state; an empty one if need be."""
        if self._thinking is not None:
            return
        self._thinking = _Block(_THINKING)
        self._queue.append(self._thinking)
        self._advance(out)

    def _tool_use_id(self, block: _Block) -> str:
        """The id the client sees for a tool call: the upstream's unless missing or repeated."""
        if block.tool_use_id is None:
            call_id = block.call_id
            if not call_id or call_id in self._used_ids:
                call_id = new_tool_use_id()
            self._used_ids.add(call_id)
            block.tool_use_id = call_id
        return block.tool_use_id

    def _seal(self) -> str:
        """The signature for the thinking block closing now; the next one starts a fresh state."""
        carry, self._carry = self._carry, _Carry()
        carried = CarriedReasoning(
            field=self._reasoning_field,
            text="".join(carry.pieces),
            details=tuple(carry.details),
            call_extras={self._tool_use_id(block): extra for block, extra in carry.calls},
        )
        return self.context.signature(carried)

    def _closable(self, block: _Block) -> bool:
        if block.kind != _TOOL:
            return True
        if block.tail != "}":
            return False
        args = block.args
        if len(args) > 1:
            joined = "".join(args)
            args.clear()
            args.append(joined)
        try:
            return isinstance(json.loads(args[0]), dict)
        except ValueError:
            return False

    def _advance(self, out: list[str]) -> None:
        """Open queued blocks for as long as the open block may be closed."""
        queue = self._queue
        while queue:
            head = queue[0]
            if head.kind == _TOOL and not head.name:
                return  # cannot start a tool_use block without its name
            current = self._open
            if current is not None:
                if not self._closable(current):
                    return
                self._close(current, out)
            queue.pop(0)
            self._open_block(head, out)

    def _open_block(self, block: _Block, out: list[str]) -> None:
        index = self._next_index
        self._next_index += 1
        block.index = index
        self._open = block
        kind = block.kind
        if kind == _TEXT:
            out.append(f'{_START_HEAD}{index},"content_block":{{"type":"text","text":""}}}}\n\n')
        elif kind == _THINKING:
            out.append(
                f'{_START_HEAD}{index},"content_block":'
                f'{{"type":"thinking","thinking":"","signature":""}}}}\n\n'
            )
        else:
            call_id = self._tool_use_id(block)
            self._tool_blocks += 1
            name = self.context.original_tool_name(block.name or "")
            out.append(
                f'{_START_HEAD}{index},"content_block":{{"type":"tool_use","id":{_jstr(call_id)},'
                f'"name":{_jstr(name)},"input":{{}}}}}}\n\n'
            )
        if block.pending:
            joined = "".join(block.pending)
            block.pending.clear()
            if kind == _TOOL:
                if joined.isspace():
                    return
                block.sent_json = True
            out.append(f"{_DELTA_HEAD}{index}{_MIDS[kind]}{_jstr(joined)}{_DELTA_TAIL}")

    def _close(self, block: _Block, out: list[str]) -> None:
        if block.kind == _TOOL:
            if block.sent_json and not self._closable(block):
                suffix = completion_suffix("".join(block.args))
                if suffix:
                    out.append(f"{_DELTA_HEAD}{block.index}{_JSON_MID}{_jstr(suffix)}{_DELTA_TAIL}")
        elif block is self._text:
            self._text = None
        elif block is self._thinking:
            self._thinking = None
        if block.kind == _THINKING and self._sealing:
            signature = self._seal()
            if signature:
                out.append(f"{_DELTA_HEAD}{block.index}{_SIGNATURE_MID}{_jstr(signature)}{_DELTA_TAIL}")
        block.closed = True
        if self._open is block:
            self._open = None
        out.append(f"{_STOP_HEAD}{block.index}{_STOP_TAIL}")


def _flatten(content: Any) -> str:
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)
