"""Per-job-token admission: requests in flight and requests a minute, each past its limit a 429 with
retry-after.

Every agent holds a job token, so a valid token is no proof of good faith: these limits bound what one job can
make the adapter (and the paid gateway) do. The farm's own tokens (ADAPTER_TOKENS, held by workers and
frontends) are not limited. State lives in this process; each adapter replica counts on its own.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from adapter.auth import TokenCheck
from adapter.errors import RateLimited, Unauthorized, error_response

log = logging.getLogger("adapter")
# Job tokens' labels (adapter.auth) start with this; only those are limited.
JOB_LABEL_PREFIX = "job:"
# How often clients with nothing in flight and a full bucket are forgotten.
SWEEP_EVERY_S = 60.0
# A client over its concurrency cannot know when a slot frees; one second is the shortest Retry-After.
CONCURRENCY_RETRY_AFTER_S = 1.0


@dataclass
class ClientState:
    in_flight: int
    tokens: float  # the token bucket: requests the client may send now
    refilled_at: float


class ClientLimits:
    """At most `max_concurrent` requests in flight and `rate_per_min` a minute (bursts of `burst`) per
    client; 0 = off."""

    def __init__(
        self,
        max_concurrent: int,
        rate_per_min: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_concurrent = max_concurrent
        self.rate_per_s = rate_per_min / 60
        self.burst = burst
        self._clock = clock
        self._clients: dict[str, ClientState] = {}
        self._swept_at = clock()

    def admit(self, client: str) -> None:
        """Count one request of `client` in; raises RateLimited when it is over a limit (nothing counted
        then)."""
        now = self._clock()
        self._sweep(now)
        state = self._clients.setdefault(client, ClientState(0, float(self.burst), now))
        if self.max_concurrent and state.in_flight >= self.max_concurrent:
            raise RateLimited(
                f"this job already has {state.in_flight} requests in flight (ADAPTER_JOB_MAX_CONCURRENT)",
                retry_after_s=CONCURRENCY_RETRY_AFTER_S,
            )
        if self.rate_per_s:
            self._refill(state, now)
            if state.tokens < 1:
                raise RateLimited(
                    f"this job sent more than {self.burst} requests at once or "
                    f"{self.rate_per_s * 60:g} a minute (ADAPTER_JOB_BURST, ADAPTER_JOB_RATE_PER_MIN)",
                    retry_after_s=(1 - state.tokens) / self.rate_per_s,
                )
            state.tokens -= 1
        state.in_flight += 1

    def release(self, client: str) -> None:
        """Count one admitted request of `client` out (its response has been sent, or it failed)."""
        self._clients[client].in_flight -= 1

    def tracked(self) -> set[str]:
        """The clients whose state is kept."""
        return set(self._clients)

    def _refill(self, state: ClientState, now: float) -> None:
        state.tokens = min(float(self.burst), state.tokens + (now - state.refilled_at) * self.rate_per_s)
        state.refilled_at = now

    def _sweep(self, now: float) -> None:
        # A job's state must not outlive it: idle clients whose bucket is full again are dropped.
        if now - self._swept_at < SWEEP_EVERY_S:
            return
        self._swept_at = now
        for client, state in list(self._clients.items()):
            if state.in_flight == 0 and (
                not self.rate_per_s
                or state.tokens + (now - state.refilled_at) * self.rate_per_s >= self.burst
            ):
                del self._clients[client]


class JobAdmission:
    """ASGI middleware: a job token's request takes a slot of ClientLimits until its response, stream
    included, is sent."""

    def __init__(self, app: ASGIApp, limits: ClientLimits, tokens: TokenCheck):
        self.app = app
        self.limits = limits
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self._job_client(scope) if scope["type"] == "http" else None
        if client is None:
            await self.app(scope, receive, send)
            return
        try:
            self.limits.admit(client)
        except RateLimited as refused:
            log.info("%s %s -> 429 for %s: %s", scope["method"], scope["path"], client, refused.message)
            await error_response(refused)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limits.release(client)

    def _job_client(self, scope: Scope) -> str | None:
        """The label of a valid job token on this request, else None (the endpoint answers for bad tokens)."""
        try:
            client = self.tokens.client_label(Request(scope))
        except Unauthorized:
            return None
        return client if client.startswith(JOB_LABEL_PREFIX) else None
