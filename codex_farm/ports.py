"""Loopback TCP ports for the pieces of a local farm."""

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def is_listening(port: int, host: str = LOOPBACK) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_free(port: int, flag: str) -> None:
    """Exit with a hint when the port is taken, before a child dies on it with a less clear error."""
    if is_listening(port):
        raise SystemExit(f"port {port} on {LOOPBACK} is already in use; pick another with {flag}")
