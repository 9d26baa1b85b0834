"""Timing HTTP requests per path: keep-alive clients, one timed request, interleaved runs, percentiles.

Shared by `bench.adapter_latency` and `bench.proxy_compare` so every path is timed the same way.
"""

import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx


def keep_alive_client(base_url: str, headers: dict[str, str]) -> httpx.Client:
    """One keep-alive connection's client for one path."""
    # Claude Code (Node) sends with TCP_NODELAY; so does this client, for every path alike.
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(base_url=base_url, headers=headers, transport=transport, timeout=60)


def post_once(client: httpx.Client, path: str, body: bytes) -> float:
    """Seconds for one non-streaming POST, to the end of the response body."""
    started = time.perf_counter()
    response = client.post(path, content=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path} -> {response.status_code}: {response.text[:500]}")
    return elapsed


def stream_once(client: httpx.Client, path: str, body: bytes) -> tuple[float, float]:
    """(time to the first `data:`/`event:` line, time to the end of the stream)."""
    started = time.perf_counter()
    first = None
    with client.stream("POST", path, content=body) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"{path} -> {response.status_code}: {response.text[:500]}")
        for line in response.iter_lines():
            if first is None and line.startswith(("data:", "event:")):
                first = time.perf_counter()
    ended = time.perf_counter()
    if first is None:
        raise RuntimeError(f"{path}: stream without events")
    return first - started, ended - started


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    times: dict[str, list]  # per path: one result per request
    cpu_s: dict[str, float]  # per path: CPU seconds its server process used during that path's batches


def interleaved(
    run: dict[str, Callable[[], object]],
    total: int,
    batch: int,
    between: Callable[[], None],
    pids: dict[str, int],
) -> Measured:
    """`total` runs of each path, in alternating batches: paths in order, then reversed, and so on.

    With `batch` 1 this is a round robin, so drift on the machine hits every path alike."""
    measured = Measured({name: [] for name in run}, {name: 0.0 for name in run})
    names = list(run)
    done, turn = 0, 0
    while done < total:
        size = min(batch, total - done)
        for name in names if turn % 2 == 0 else reversed(names):
            between()
            cpu_before = process_cpu_s(pids[name])
            for _ in range(size):
                measured.times[name].append(run[name]())
            measured.cpu_s[name] += process_cpu_s(pids[name]) - cpu_before
        done += size
        turn += 1
    return measured


def summary(seconds: list[float]) -> tuple[float, float, float]:
    """(p50, p99, mean) in milliseconds."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, statistics.fmean(seconds) * 1000
