"""Bearer-token guard for the streamable HTTP transport (a team-shared frontend)."""

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await _reject(send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        presented = dict(scope.get("headers") or []).get(b"authorization", b"")
        return hmac.compare_digest(presented, self._expected)


async def _reject(send: Send) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "unauthorized",
                "message": "missing or wrong bearer token",
                "hint": "send Authorization: Bearer $FARM_MCP_TOKEN",
            }
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
