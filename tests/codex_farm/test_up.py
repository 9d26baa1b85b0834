"""`codex-farm up --scripted`: serves MCP over HTTP behind the token, and Ctrl-C stops every child."""

import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from codex_farm.up import PIDS_FILE, READY_HEADLINE
from tests.codex_farm.process_tree import alive, descendants, kill_all
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.processes import free_port

READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 60


class Output:
    """The lines a child prints, collected by a thread so reads never block the test."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)

    def text(self) -> str:
        while not self._queue.empty():
            self.lines.append(self._queue.get_nowait())
        return "".join(self.lines)

    def wait_for(self, needle: str, process: subprocess.Popen, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while needle not in self.text():
            assert process.poll() is None, f"up exited with {process.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {needle!r} after {timeout_s} s:\n{self.text()}"
            time.sleep(0.1)
        return self.text()


async def list_jobs(url: str, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await call_ok(client, "list_jobs", {})


def test_up_serves_mcp_behind_its_token_and_sigint_stops_every_child(tmp_path: Path):
    mcp_port, adapter_port = free_port(), free_port()
    tag = secrets.token_hex(4)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FARM_MCP_TOKEN", "FARM_EMBEDDED_REDIS")}
    env.update(
        TMPDIR=str(tmp_path), WORKER_CACHE_DIR=str(tmp_path / "cache"), SANDBOX_ROOT=str(tmp_path),
        FARM_QUEUE=f"up-{tag}", FARM_KEY_PREFIX=f"farm-up-{tag}:",
    )
    argv = [sys.executable, "-m", "codex_farm", "up", "--scripted", "--mcp-port", str(mcp_port),
            "--adapter-port", str(adapter_port), "--concurrency", "1"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(process)
    tree: set = set()
    try:
        text = output.wait_for("Ctrl-C stops everything.", process, READY_TIMEOUT_S)
        assert READY_HEADLINE in text
        url = f"http://127.0.0.1:{mcp_port}/mcp"
        assert f'url = "{url}"' in text and 'bearer_token_env_var = "FARM_MCP_TOKEN"' in text
        token = re.search(r"export FARM_MCP_TOKEN=(\S+)", text).group(1)
        run_dir = Path(re.search(r"^logs:\s+(\S+)", text, re.MULTILINE).group(1))
        pids = json.loads((run_dir / PIDS_FILE).read_text())
        assert {"adapter", "worker", "mcp", "redis-server"} <= set(pids)
        tree = descendants(process.pid)
        assert set(pids.values()) - {process.pid} <= {pid for pid, _ in tree}

        assert anyio.run(list_jobs, url, token) == {"jobs": []}
        assert httpx.post(url, json={}).status_code == 401
        assert httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0, output.text()
        assert "stopping" in output.text()
        assert not [p for p in tree if alive(p)], f"left running: {[p for p in tree if alive(p)]}"
    finally:
        tree |= descendants(process.pid) if process.poll() is None else set()
        if process.poll() is None:
            process.kill()
            process.wait()
        kill_all(tree)
