"""Slow clients (slowloris): a connection that does not deliver its headers, or its body, in time is
closed."""

import select
import socket
import time

import httpx
import pytest

TIMEOUT_S = 1.0
# Time the adapter may take past its deadline to close (a loaded 2-core box); far below GIVE_UP_S.
SLACK_S = 2.0
GIVE_UP_S = 8.0
TRICKLE_EVERY_S = 0.2


def seconds_until_closed(sock: socket.socket, trickle: bytes) -> float | None:
    """Send `trickle` a byte every TRICKLE_EVERY_S (then stay silent) until the server closes; None if it
    never does."""
    started = time.monotonic()
    pending = list(trickle)
    while time.monotonic() - started < GIVE_UP_S:
        try:
            if pending:
                sock.send(bytes([pending.pop(0)]))
            readable, _, _ = select.select([sock], [], [], TRICKLE_EVERY_S)
            if readable and sock.recv(65536) == b"":
                return time.monotonic() - started
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    return None


@pytest.fixture
def adapter(scripted_gateway, start_adapter):
    return start_adapter(
        scripted_gateway.url, ADAPTER_HEADER_TIMEOUT_S=str(TIMEOUT_S), ADAPTER_BODY_TIMEOUT_S=str(TIMEOUT_S)
    )


def connect(adapter) -> socket.socket:
    return socket.create_connection(("127.0.0.1", adapter.server.port), timeout=GIVE_UP_S)


def request_head(adapter, length: int) -> bytes:
    return (
        f"POST /v1/messages HTTP/1.1\r\nhost: adapter\r\nx-api-key: {adapter.token}\r\n"
        f"content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


def test_a_silent_connection_is_closed(adapter):
    with connect(adapter) as sock:
        closed_after = seconds_until_closed(sock, b"")
    assert closed_after is not None and closed_after < TIMEOUT_S + SLACK_S


def test_trickled_headers_are_cut_off_though_bytes_keep_arriving(adapter):
    with connect(adapter) as sock:
        # ~1 byte / 0.2 s: 40 s of headers
        closed_after = seconds_until_closed(sock, request_head(adapter, 10))
    assert closed_after is not None and closed_after < TIMEOUT_S + SLACK_S


def test_a_trickled_body_is_cut_off(adapter):
    with connect(adapter) as sock:
        sock.sendall(request_head(adapter, 1000))
        closed_after = seconds_until_closed(sock, b'{"model": "claude-opus-5-5", "messages": []' + b" " * 900)
    assert closed_after is not None and closed_after < TIMEOUT_S + SLACK_S


def test_a_stalled_keep_alive_request_is_cut_off_too(scripted_gateway, adapter):
    scripted_gateway.add_scenario({"name": "quick", "turns": [{"text": "ok"}]})
    body = b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "[[scenario:quick]]"}]}'
    with connect(adapter) as sock:
        sock.sendall(request_head(adapter, len(body)) + body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        # then a second request stalls
        closed_after = seconds_until_closed(sock, request_head(adapter, 10)[:20])
    assert closed_after is not None and closed_after < TIMEOUT_S + SLACK_S


def test_a_prompt_client_is_not_bothered_by_the_deadlines(scripted_gateway, adapter):
    scripted_gateway.add_scenario({"name": "prompt", "turns": [{"text": "ok", "chunks": 4, "delay_ms": 600}]})
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "[[scenario:prompt]]"}],
    }
    with httpx.Client(base_url=adapter.url, headers={"x-api-key": adapter.token}, timeout=30) as client:
        for _ in range(2):  # the same keep-alive connection; the stream outlasts both deadlines
            with client.stream("POST", "/v1/messages", json=body) as response:
                events = [line for line in response.iter_lines() if line.startswith("event: ")]
            assert response.status_code == 200 and events[-1] == "event: message_stop"
