"""Deadlines for slow clients (slowloris): uvicorn's HTTP protocol with a time limit on a request's headers
and body.

uvicorn has a keep-alive timeout between requests but none while a request arrives: a client that trickles its
headers or its body a byte at a time holds its connection for ever. This protocol disconnects a client whose
headers are not complete ADAPTER_HEADER_TIMEOUT_S after it connected (or after the first byte of a later
request on a kept-alive connection), or whose body is not complete ADAPTER_BODY_TIMEOUT_S after its headers.
It also closes a connection answered before its body was read in full (a refusal), instead of reading the
rest.
"""

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("adapter")


class DeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a header deadline and a body deadline; `with_deadlines` sets their lengths."""

    header_timeout_s = 10.0
    body_timeout_s = 60.0
    _deadline: asyncio.TimerHandle | None = None

    @classmethod
    def with_deadlines(cls, header_timeout_s: float, body_timeout_s: float) -> type["DeadlineProtocol"]:
        """A protocol class (what uvicorn's `http` setting takes) with these deadlines."""
        return type(
            cls.__name__, (cls,), {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s}
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # a later request on a kept-alive connection: its clock starts at its first byte
        if self._deadline is None:
            self._arm(self.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # A pipelined request's body clock runs while it waits its turn; clients of the adapter do not
        # pipeline.
        self._arm(self.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def on_response_complete(self) -> None:
        # With no pipelined request queued, self.cycle is the request just answered.
        if not self.pipeline and self.cycle.more_body and not self.transport.is_closing():
            self.transport.close()
        super().on_response_complete()

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, seconds, part)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float, part: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            peer = "{}:{}".format(*self.client) if self.client else "a client"
            log.info("closed the connection of %s: request %s not complete within %g s", peer, part, seconds)
            self.transport.close()
