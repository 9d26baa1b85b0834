"""A stand-in OpenAI Responses endpoint for the real Codex CLI: it records every request body Codex sends
and answers each turn with a minimal stream, so `codex exec` finishes without a model.

The event and item shapes are the ones Codex's SSE reader parses (openai/codex,
codex-rs/codex-api/src/sse/responses.rs, `process_sse`); each is quoted where it is built.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from codex_farm.ports import LOOPBACK

ANSWER = "hi"


def assistant_message(text: str) -> dict:
    """An output item: the assistant says `text` and the turn can end."""
    # `ResponseItem::Message { id: Option<..>, role, content: Vec<ContentItem>, .. }`; an assistant's text
    # is the content item `{"type": "output_text", "text"}`.
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def custom_tool_call(call_id: str, name: str, tool_input: str) -> dict:
    """An output item: the model calls the free-form tool `name` (Codex answers in its next request)."""
    # `ResponseItem::CustomToolCall { call_id, name, input, .. }` (codex-rs/protocol/src/models.rs).
    return {"type": "custom_tool_call", "call_id": call_id, "name": name, "input": tool_input}


@dataclass
class ResponsesStub:
    """The server's address and each request body Codex POSTed to `/responses`, in order."""

    base_url: str  # what a Codex model provider's `base_url` is set to: Codex appends `/responses`
    bodies: list[bytes] = field(default_factory=list)


@contextmanager
def responses_stub(script: list[dict]) -> Iterator[ResponsesStub]:
    """Serve on a free loopback port while the block runs; the n-th turn answers with `script[n]`, an
    output item, and every turn after the script with a short assistant message."""
    replies = iter(script)
    lock = threading.Lock()
    stub = ResponsesStub("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.endswith("/responses"):
                self.send_error(404)
                return
            if self.headers.get("Content-Encoding", "identity") != "identity":
                # Codex sends this provider plain JSON; a compressed body would not be measurable.
                self.send_error(415, "send the body uncompressed")
                return
            with lock:
                stub.bodies.append(body)
                turn = len(stub.bodies)
                item = next(replies, None) or assistant_message(ANSWER)
            self._send_events(turn_events(f"resp_{turn}", item))

        def do_GET(self) -> None:
            # A model list, say: "not found" leaves Codex on its built-in model metadata.
            self.send_error(404)

        def _send_events(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # the bench prints its own summary
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    stub.base_url = f"http://{LOOPBACK}:{server.server_port}/v1"
    thread = threading.Thread(target=server.serve_forever, name="responses-stub", daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def turn_events(response_id: str, item: dict) -> bytes:
    """One whole turn as SSE: created, one finished output item, completed with usage."""
    # `"response.created" => if event.response.is_some()`: any object under `response`.
    created = {"type": "response.created", "response": {"id": response_id}}
    # `"response.output_item.done"`: `item` deserialises as a `ResponseItem`.
    done = {"type": "response.output_item.done", "item": {"id": f"item_{response_id}", **item}}
    # `"response.completed"`: `response` is a `ResponseCompleted { id, usage: Option<..> }`, usage with
    # `input_tokens`, `output_tokens`, `total_tokens` (the `*_details` are optional). The turn ends when
    # the stream closes after it, else "stream closed before response.completed".
    usage = {"input_tokens": 0, "output_tokens": 1, "total_tokens": 1}
    completed = {"type": "response.completed", "response": {"id": response_id, "usage": usage}}
    return b"".join(sse(event) for event in (created, done, completed))


def sse(event: dict) -> bytes:
    """One server-sent event named after its `type` (Codex parses the `data:` line's JSON)."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
