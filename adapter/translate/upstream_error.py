"""Upstream HTTP errors -> Anthropic error responses.

| upstream status            | returned | Anthropic error type    |
|----------------------------|----------|-------------------------|
| 400, 422                   | 400      | invalid_request_error   |
| 401                        | 500      | api_error (see below)   |
| 402                        | 402      | billing_error           |
| 403                        | 403      | permission_error        |
| 404                        | 404      | not_found_error         |
| 408, 504, 524              | 504      | timeout_error           |
| 413                        | 413      | request_too_large       |
| 429                        | 429      | rate_limit_error        |
| 503, 529                   | 529      | overloaded_error        |
| other 5xx                  | 500      | api_error               |
| anything else              | 500      | api_error               |

An upstream 401 means the *adapter's* gateway key was rejected, not the client's token.
Relaying it as ``authentication_error`` would make Claude Code ask the user to log in,
which cannot help, so it becomes a 500 ``api_error`` whose message names the real cause.
402 (DeepSeek "Insufficient Balance", gateway quota exhaustion) maps to Anthropic's own
``billing_error`` so the client does not retry it as a server fault.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE_CHARS = 500

UPSTREAM_CREDENTIALS_MESSAGE = "upstream gateway rejected the adapter's credentials"

_BY_STATUS: dict[int, tuple[int, str]] = {
    400: (400, "invalid_request_error"),
    401: (500, "api_error"),
    402: (402, "billing_error"),
    403: (403, "permission_error"),
    404: (404, "not_found_error"),
    408: (504, "timeout_error"),
    413: (413, "request_too_large"),
    422: (400, "invalid_request_error"),
    429: (429, "rate_limit_error"),
    503: (529, "overloaded_error"),
    504: (504, "timeout_error"),
    524: (504, "timeout_error"),
    529: (529, "overloaded_error"),
}


def anthropic_error_for_status(status: int) -> tuple[int, str]:
    """Upstream HTTP status -> (HTTP status to return, Anthropic error type)."""
    mapped = _BY_STATUS.get(status)
    if mapped is not None:
        return mapped
    return 500, "api_error"


def _truncate(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        return text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def _message_from(value: Any) -> str | None:
    """Find the human-readable message in a decoded error body."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        # FastAPI validation errors: [{"msg": ...}, ...]
        parts = [_message_from(item) for item in value]
        joined = "; ".join(part for part in parts if part)
        return joined or None
    if not isinstance(value, dict):
        return None
    for key in ("error", "message", "detail", "msg", "error_msg"):
        if key in value:
            found = _message_from(value[key])
            if found:
                return found
    return None


def upstream_error_message(body: bytes | str | None) -> str:
    """The message of an OpenAI-style ``{"error": {"message": ...}}`` body.

    Also understands ``{"error": "..."}``, vLLM's top-level ``{"message": ...}`` and
    FastAPI's ``{"detail": ...}``; otherwise returns the raw text.  At most 500 characters;
    "" for an empty body.
    """
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray, memoryview)):
        text = bytes(body).decode("utf-8", errors="replace")
    else:
        text = body
    text = text.strip()
    if not text:
        return ""
    try:
        decoded = json.loads(text)
    except ValueError:
        return _truncate(text)
    found = _message_from(decoded)
    return _truncate(found if found else text)


def translate_upstream_error(status: int, body: bytes | str | None) -> tuple[int, str, str]:
    """(HTTP status to return, Anthropic error type, message) for an upstream error reply."""
    returned, error_type = anthropic_error_for_status(status)
    detail = upstream_error_message(body)
    if status == 401:
        message = UPSTREAM_CREDENTIALS_MESSAGE
    else:
        message = f"upstream returned HTTP {status}"
    if detail:
        message = f"{message}: {detail}"
    return returned, error_type, message
