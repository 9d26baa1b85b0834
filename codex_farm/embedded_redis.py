"""An in-process Redis for machines without redis-server: fakeredis served on loopback TCP.

fakeredis accepts any password, so a gate in front of it admits a connection only
after its first command authenticates (`AUTH` or `HELLO ... AUTH`) with ours.
"""

import hmac
import secrets
import socket
import threading

from fakeredis import TcpFakeServer

from codex_farm.ports import LOOPBACK

# An AUTH/HELLO command is tiny; anything longer before authenticating is not a client we serve.
_MAX_PREAMBLE_BYTES = 4096
_AUTH_TIMEOUT_S = 10.0
_NOAUTH = b"-NOAUTH Authentication required.\r\n"
_WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"


def _parse_command(data: bytes) -> list[bytes] | None:
    """Arguments of the RESP array at the start of data; None while incomplete, [] if malformed."""
    head, sep, rest = data.partition(b"\r\n")
    if not sep:
        return None
    try:
        count = int(head[1:]) if head.startswith(b"*") else -1
        if not 0 < count <= 16:
            return []
        args = []
        for _ in range(count):
            line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                return None
            size = int(line[1:]) if line.startswith(b"$") else -1
            if size < 0:
                return []
            if len(rest) < size + 2:
                return None
            args.append(rest[:size])
            rest = rest[size + 2 :]
        return args
    except ValueError:
        return []


def _presented_password(args: list[bytes]) -> bytes | None:
    """The password in `AUTH [user] pass` or `HELLO ver AUTH user pass`, if that is the command."""
    words = [a.upper() for a in args]
    if words[:1] == [b"AUTH"] and len(args) in (2, 3):
        return args[-1]
    if words[:1] == [b"HELLO"] and b"AUTH" in words:
        at = words.index(b"AUTH")
        return args[at + 2] if len(args) > at + 2 else None
    return None


def _read_first_command(sock: socket.socket) -> tuple[list[bytes], bytes]:
    """The first command's arguments and every byte read so far (pipelined commands included)."""
    data = b""
    while len(data) <= _MAX_PREAMBLE_BYTES:
        args = _parse_command(data)
        if args is not None:
            return args, data
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return [], data


class _Server(TcpFakeServer):
    """TcpFakeServer whose connections must authenticate first; daemon threads so exit never hangs."""

    def __init__(self, address: tuple[str, int], password: str):
        super().__init__(address)
        self.daemon_threads = True
        self.password = password.encode()
        # What fakeredis's own AUTH compares with, once our gate has let the command through.
        self.fake_server.config[b"requirepass"] = self.password
        self.RequestHandlerClass = _gated_handler(self.RequestHandlerClass)


def _gated_handler(base: type) -> type:
    """A subclass of fakeredis's handler with TCP_NODELAY and the password gate."""

    class GatedHandler(base):
        # StreamRequestHandler sets TCP_NODELAY; without it small replies wait on delayed ACKs (~40 ms).
        disable_nagle_algorithm = True

        def setup(self) -> None:
            # `self.connection` only exists after StreamRequestHandler.setup; the socket is `request`.
            self.request.settimeout(_AUTH_TIMEOUT_S)
            try:
                self.first_args, self.first_bytes = _read_first_command(self.request)
            except OSError:
                self.first_args, self.first_bytes = [], b""
            self.request.settimeout(None)
            super().setup()

        def handle(self) -> None:
            presented = _presented_password(self.first_args)
            if presented is None or not hmac.compare_digest(presented, self.server.password):
                self.wfile.write(_NOAUTH if presented is None else _WRONGPASS)
                self.wfile.flush()
                return
            # Hand the already-read bytes to the fake connection, as fakeredis's loop does with later ones.
            self.current_client.get_socket().sendall(self.first_bytes)
            super().handle()

    return GatedHandler


class EmbeddedRedis:
    """fakeredis (with Lua via lupa) on a loopback port, served from a thread of this process."""

    def __init__(self, port: int = 0):
        self.password = secrets.token_urlsafe(24)
        self._server = _Server((LOOPBACK, port), self.password)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="embedded-redis",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{LOOPBACK}:{self.port}/0"

    def start(self) -> "EmbeddedRedis":
        self._thread.start()
        return self

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop accepting, end every connection's loop and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
