"""Client authentication: every caller presents a token the adapter knows."""

import hashlib
import hmac

from starlette.requests import Request

from adapter.errors import Unauthorized
from adapter.settings import AdapterSettings
from farm_core.job_tokens import verify_job_token


class TokenCheck:
    """Accepts `x-api-key: T` or `Authorization: Bearer T` for a configured token T or a job token it
    signed."""

    def __init__(self, settings: AdapterSettings):
        self._keys = [t.get_secret_value() for t in settings.client_tokens]
        self._tokens = [key.encode() for key in self._keys]
        self._anonymous = settings.allow_anonymous

    def client_label(self, request: Request) -> str:
        """Check the request's token; return a non-secret label for metrics. Raises Unauthorized."""
        token = presented_token(request)
        if token and any(hmac.compare_digest(token.encode(), known) for known in self._tokens):
            return "client-" + hashlib.sha256(token.encode()).hexdigest()[:8]
        job_id = verify_job_token(token, self._keys) if token.startswith("job.") else None
        if job_id:
            return f"job:{job_id}"
        if self._anonymous:
            return "anonymous"
        if not token:
            raise Unauthorized("missing token: send x-api-key or Authorization: Bearer")
        raise Unauthorized("unknown token")


def presented_token(request: Request) -> str:
    """The token in x-api-key, else in a Bearer Authorization header."""
    token = request.headers.get("x-api-key", "")
    if not token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    return token
