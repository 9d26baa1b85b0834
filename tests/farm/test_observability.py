"""Accounting and metrics around real jobs: metrics rows name the job; the worker's Prometheus port counts
jobs."""

import secrets
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.farm import connect_mcp, start_worker, stop_worker
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.processes import free_port

METERED = {
    "name": "obs_metered",
    "turns": [
        {
            "tool_calls": [{"name": "Write", "arguments": {"file_path": "{cwd}/a.txt", "content": "a\n"}}],
            "usage": {"prompt_tokens": 1300, "completion_tokens": 30, "cached_tokens": 1000},
        },
        {
            "text": "Done.",
            "usage": {"prompt_tokens": 1600, "completion_tokens": 9, "cached_tokens": 1200},
            "cache_style": "deepseek",
        },
    ],
}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_rows_attribute_the_jobs_tokens_to_it(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(METERED)
    repo = make_repo(parent=farm.sandbox)
    async with connect_mcp(farm) as client:
        started = await call_ok(client, "start", {"prompt": "[[scenario:obs_metered]]", "repo": str(repo)})
        done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 60000})

    assert done["job_status"] == "completed"
    rows = [r for r in farm.adapter.metrics_rows() if r["job"] == started["job_id"]]
    assert rows and all(r["client"] == f"job:{started['job_id']}" and r["route"] == "primary" for r in rows)
    # Rows are Anthropic-style (input excludes cached); the job's usage counts the whole prompt as input.
    assert sum(r["input_tokens"] + r["cached_tokens"] for r in rows) == done["usage"]["input_tokens"] == 2900
    assert sum(r["cached_tokens"] for r in rows) == done["usage"]["cached_tokens"] == 2200
    assert sum(r["output_tokens"] for r in rows) == done["usage"]["output_tokens"] == 39


async def test_worker_metrics_port_counts_finished_jobs(farm, make_repo, scripted_gateway, tmp_path):
    port, queue = free_port(), "qm" + secrets.token_hex(3)
    own = {
        "FARM_QUEUE": queue,
        "FARM_KEY_PREFIX": f"farm-test-{queue}:",
        "WORKER_CACHE_DIR": str(tmp_path / "cache"),
    }
    worker = start_worker({**farm.env, **own, "WORKER_METRICS_PORT": str(port)}, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        before = scrape(url, lambda found: True)
        assert not [key for key in before if key[0].startswith("codex_farm_worker_jobs_total")]

        scripted_gateway.add_scenario({"name": "obs_worker", "turns": [{"text": "Nothing to do."}]})
        repo = make_repo(parent=farm.sandbox)
        async with connect_mcp(farm, **own) as client:
            started = await call_ok(client, "start", {"prompt": "[[scenario:obs_worker]]", "repo": str(repo)})
            done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 60000})
        assert done["job_status"] == "completed"

        completed = ("codex_farm_worker_jobs_total", (("queue", queue), ("status", "completed")))
        found = scrape(url, lambda found: found.get(completed) == 1)
        duration = (
            "codex_farm_worker_job_duration_seconds_count",
            (("queue", queue), ("status", "completed")),
        )
        assert found[duration] == 1
        assert found[("codex_farm_worker_job_duration_seconds_sum", duration[1])] > 0
    finally:
        stop_worker(worker)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert f"worker metrics on http://127.0.0.1:{port}/metrics" in log


def scrape(url: str, ready, timeout_s: float = 15.0) -> dict:
    """The worker's metrics once ready(found) holds (the port opens when the worker is ready; counts follow
    the job)."""
    deadline, found = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            found = samples(response.text)
            if response.status_code == 200 and ready(found):
                return found
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"metrics at {url} never got ready: {found}")
