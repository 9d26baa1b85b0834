"""Request bodies past ADAPTER_MAX_BODY_BYTES: refused with 413 while they arrive, never buffered, never
forwarded."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from farm_core.job_tokens import mint_job_token

MB = 1024 * 1024
ATTACK_BODY_BYTES = 200 * MB
ATTACK_CLIENTS = 4
RSS_CEILING_MB = 300
PIECE = b"x" * MB


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A /proc/<pid>/status memory field (VmRSS now, VmHWM the peak so far) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


class RssSampler:
    """Samples a process's VmRSS every few milliseconds on a thread; `peak` is the largest seen."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def prompt_body(size: int) -> Iterator[bytes]:
    """A well-formed Messages request whose prompt makes it `size` bytes, in 1 MB pieces (never held
    whole)."""
    head = b'{"model": "claude-opus-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "'
    tail = b'"}]}'
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        yield PIECE[: min(left, MB)]
        left -= MB
    yield tail


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's timeout bounds the wait)."""
    received = b""
    while piece := sock.recv(65536):
        received += piece
    return received


def send_huge(url: str, token: str, declare_length: bool) -> httpx.Response:
    """POST a 200 MB request, chunked or with its Content-Length, and return the adapter's answer."""
    headers = {"x-api-key": token, "content-type": "application/json"}
    if declare_length:
        headers["content-length"] = str(ATTACK_BODY_BYTES)
    return httpx.post(
        url + "/v1/messages", headers=headers, content=prompt_body(ATTACK_BODY_BYTES), timeout=120
    )


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content_length"])
def test_four_concurrent_200_mb_bodies_get_413_and_are_never_buffered(
    scripted_gateway, start_adapter, declare_length
):
    adapter = start_adapter(scripted_gateway.url)
    job_token = mint_job_token("bodyflood", adapter.token, ttl_s=600)
    pid = adapter.server.process.pid
    before = rss_mb(pid)

    with RssSampler(pid) as sampler, ThreadPoolExecutor(ATTACK_CLIENTS) as pool:
        answers = list(
            pool.map(lambda _: send_huge(adapter.url, job_token, declare_length), range(ATTACK_CLIENTS))
        )
    after, high_water = rss_mb(pid), rss_mb(pid, "VmHWM")

    print(
        f"adapter RSS: {before:.0f} MB before, peak {sampler.peak:.0f} MB sampled / {high_water:.0f} MB "
        f"VmHWM, {after:.0f} MB after"
    )
    assert [a.status_code for a in answers] == [413] * ATTACK_CLIENTS
    assert all(a.json()["error"]["type"] == "request_too_large" for a in answers)
    assert max(sampler.peak, high_water) < RSS_CEILING_MB
    assert after < RSS_CEILING_MB
    assert scripted_gateway.requests() == []
    assert "Traceback" not in adapter.server.log()


def test_a_declared_length_over_the_cap_is_refused_before_any_body_byte(scripted_gateway, start_adapter):
    adapter = start_adapter(scripted_gateway.url)
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: adapter\r\nx-api-key: {adapter.token}\r\n"
        f"content-type: application/json\r\ncontent-length: {ATTACK_BODY_BYTES}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", adapter.server.port), timeout=5) as sock:
        sock.sendall(head.encode())  # and not one byte of the body
        answer = read_until_closed(sock).decode()

    status_line, _, rest = answer.partition("\r\n")
    assert status_line == "HTTP/1.1 413 Request Entity Too Large"
    assert json.loads(rest.split("\r\n\r\n", 1)[1])["error"]["type"] == "request_too_large"


def test_a_prompt_over_the_default_cap_never_reaches_the_gateway(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario({"name": "big", "turns": [{"text": "read it all"}]})
    adapter = start_adapter(scripted_gateway.url)
    prompt = "[[scenario:big]] " + "y" * (17 * MB)
    body = {"model": "claude-opus-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": prompt}]}

    response = httpx.post(
        adapter.url + "/v1/messages", headers={"x-api-key": adapter.token}, json=body, timeout=60
    )

    assert response.status_code == 413
    assert response.json() == {
        "type": "error",
        "error": {"type": "request_too_large", "message": response.json()["error"]["message"]},
    }
    assert "16777216" in response.json()["error"]["message"]
    assert scripted_gateway.requests() == []


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_the_cap_is_a_setting_and_a_body_under_it_is_served(scripted_gateway, start_adapter, path):
    scripted_gateway.add_scenario({"name": "capped", "turns": [{"text": "fine"}]})
    adapter = start_adapter(scripted_gateway.url, ADAPTER_MAX_BODY_BYTES=str(MB))

    def ask(size: int) -> httpx.Response:
        prompt = "[[scenario:capped]] " + "z" * size
        body = {
            "model": "claude-opus-5-5",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": prompt}],
        }
        return httpx.post(adapter.url + path, headers={"x-api-key": adapter.token}, json=body, timeout=30)

    assert ask(MB + 1).status_code == 413
    assert scripted_gateway.requests() == []
    assert ask(MB // 2).status_code == 200
