"""The adapter's errors: each carries the HTTP status and Anthropic error type it answers with."""

import json


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


class InvalidRequest(AdapterError):
    """The client's request is not a valid Anthropic Messages request."""

    status = 400
    error_type = "invalid_request_error"


class Unauthorized(AdapterError):
    """Missing or unknown client token."""

    status = 401
    error_type = "authentication_error"


class UpstreamFailed(AdapterError):
    """The gateway (and any fallback) answered with an error or could not be reached."""


def anthropic_error_body(error_type: str, message: str) -> bytes:
    """Serialize `{"type": "error", "error": {...}}` as Anthropic sends it."""
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message}}).encode()
