"""OpenAI-style error values raised anywhere in the gateway and rendered by the app."""

from typing import Any

# Error `type` strings OpenAI uses for each status; clients branch on these.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}

# OpenAI's error object; some providers send fewer of these keys.
ERROR_KEYS = ("message", "type", "param", "code")


class GatewayError(Exception):
    """A request the gateway answers with an OpenAI-style error JSON."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        keys: tuple[str, ...] = ERROR_KEYS,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.keys = keys

    @property
    def error_type(self) -> str:
        """The OpenAI `error.type` matching this status."""
        if self.status >= 500:
            return "server_error"
        return _TYPE_BY_STATUS.get(self.status, "invalid_request_error")

    def body(self) -> dict[str, Any]:
        """The JSON body: `{"error": {message, type, param, code}}`, narrowed to `keys`."""
        fields = {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}
        return {"error": {key: fields[key] for key in self.keys}}


def invalid(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    """Shorthand for a 400 invalid_request_error."""
    return GatewayError(message, status=400, param=param, code=code)
