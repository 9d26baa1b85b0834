"""Resetting a client's TCP connection from inside a request (the `reset` fault).

ASGI gives an app no handle on its socket, so the server registers itself here and the
request's client address picks the connection to abort.
"""

import asyncio
import socket
import struct
from typing import Any

# SO_LINGER on with a zero timeout: close() sends RST instead of FIN and discards unsent data.
_LINGER_ZERO = struct.pack("ii", 1, 0)


class ConnectionDropped(Exception):
    """Raised by the app after a reset, so no response is written to the dead connection."""


class ConnectionResetter:
    """Aborts the server-side transport of a request's client with a TCP reset."""

    def __init__(self) -> None:
        self._server: Any = None  # a uvicorn.Server: its server_state lists the live connections

    def attach(self, server: Any) -> None:
        """Serve resets for the connections of this uvicorn server."""
        self._server = server

    async def reset(self, client: tuple[str, int] | list | None) -> bool:
        """Reset the connection of `client` (the ASGI scope's client); False when it is not found."""
        transport = self._transport_of(client)
        if transport is None:
            return False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        transport.abort()
        await asyncio.sleep(0)  # let the protocol see the loss before the app unwinds
        return True

    def _transport_of(self, client: tuple[str, int] | list | None) -> asyncio.Transport | None:
        if self._server is None or not client:
            return None
        wanted = tuple(client)
        for connection in list(self._server.server_state.connections):
            if getattr(connection, "client", None) == wanted:
                return connection.transport
        return None
