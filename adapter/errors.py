"""The adapter's errors: each carries the HTTP status and Anthropic error type it answers with.

The types are Anthropic's (https://docs.claude.com/en/api/errors): "400 - invalid_request_error: There was an
issue with the format or content of your request. We may also use this error type for other 4XX status codes
not listed below", "413 - request_too_large: Request exceeds the maximum allowed number of bytes", "429 -
rate_limit_error: Your account has hit a rate limit".
"""

import json
import math

from starlette.responses import Response


class AdapterError(Exception):
    """Base: an error the client sees as Anthropic error JSON."""

    status = 500
    error_type = "api_error"

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type

    def body(self) -> bytes:
        """The Anthropic error document for this error."""
        return anthropic_error_body(self.error_type, self.message)

    def headers(self) -> dict[str, str]:
        """Response headers this error needs besides its body."""
        return {}


class InvalidRequest(AdapterError):
    """The client's request is not a valid Anthropic Messages request."""

    status = 400
    error_type = "invalid_request_error"


class Unauthorized(AdapterError):
    """Missing or unknown client token."""

    status = 401
    error_type = "authentication_error"


class RequestTooLarge(AdapterError):
    """The request's body is longer than ADAPTER_MAX_BODY_BYTES (declared, or counted as it arrived)."""

    status = 413
    error_type = "request_too_large"

    def headers(self) -> dict[str, str]:
        # The rest of the body is never read: the connection cannot carry another request.
        return {"connection": "close"}


class RateLimited(AdapterError):
    """A job token is over its requests in flight or its request rate."""

    status = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: float):
        super().__init__(message)
        # whole seconds, as Retry-After takes them
        self.retry_after_s = max(1, math.ceil(round(retry_after_s, 6)))

    def headers(self) -> dict[str, str]:
        # Refused before its body is read, so the connection cannot carry another request either.
        return {"retry-after": str(self.retry_after_s), "connection": "close"}


class UpstreamFailed(AdapterError):
    """The gateway (and any fallback) answered with an error or could not be reached."""


def anthropic_error_body(error_type: str, message: str) -> bytes:
    """Serialize `{"type": "error", "error": {...}}` as Anthropic sends it."""
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message}}).encode()


def error_response(error: AdapterError) -> Response:
    """The HTTP response answering with this error."""
    return Response(
        error.body(), status_code=error.status, headers=error.headers(), media_type="application/json"
    )
