"""`codex-farm stats`: the tables by model, queue and day, with the cost estimate."""

import io
import json
import os
import subprocess
import sys
import time

import pytest

from codex_farm.settings import StatsSettings
from codex_farm.stats import PriceBook, run_stats
from farm_core.keys import JobKeys
from tests.fixtures.processes import free_port

DAY1 = time.mktime((2031, 3, 4, 12, 0, 0, 0, 0, 0)) - time.timezone  # 2031-03-04 12:00 UTC
DAY2 = DAY1 + 86400


def row(ts, model, job="", status=200, input_tokens=0, cached=0, output=0, route="primary", reasoning=0):
    client = f"job:{job}" if job else "client-0123abcd"
    return {
        "ts": ts,
        "model": model,
        "route": route,
        "status": status,
        "latency_ms": 12.5,
        "stream": True,
        "client": client,
        "input_tokens": input_tokens,
        "output_tokens": output,
        "cached_tokens": cached,
        "reasoning_tokens": reasoning,
        "error": "" if status == 200 else "busy",
        "job": job,
    }


ROWS = [
    row(
        DAY1,
        "deepseek-chat",
        job="job-a",
        input_tokens=1_000_000,
        cached=2_000_000,
        output=500_000,
        reasoning=300_000,
    ),
    row(DAY1, "deepseek-chat", status=429),
    row(
        DAY2,
        "house-model",
        job="job-b",
        input_tokens=4_000_000,
        cached=1_000_000,
        output=1_000_000,
        route="fallback",
    ),
    row(DAY2, "mystery-model", job="job-gone", input_tokens=10, output=5),
]


def table(output: str, title: str) -> dict[str, list[str]]:
    """Rows of the table whose header starts with title: first cell -> the other cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def metrics_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "not json\n")
    return path


@pytest.fixture
def farm_redis(redis_server, monkeypatch):
    prefix = f"stats-test-{os.getpid()}:"
    client = redis_server.client()
    client.hset(JobKeys(prefix, "job-a").record, mapping={"job_id": "job-a", "queue": "fast"})
    client.hset(JobKeys(prefix, "job-b").record, mapping={"job_id": "job-b", "queue": "gpu"})
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("FARM_KEY_PREFIX", prefix)
    yield
    client.delete(JobKeys(prefix, "job-a").record, JobKeys(prefix, "job-b").record)


def stats_output(metrics_file, settings: StatsSettings, days=None) -> str:
    out = io.StringIO()
    assert run_stats(metrics_file, days, out=out, settings=settings) == 0
    return out.getvalue()


def test_tables_by_model_queue_and_day_with_costs(metrics_file, farm_redis):
    settings = StatsSettings(
        WORKER_PRICE_TABLE='{"house-model": {"input": 1.0, "output": 2.0, "cache": 0.1}}'
    )
    output = stats_output(metrics_file, settings)

    by_model = table(output, "model")
    # deepseek-chat, built-in prices: 1M uncached x 0.28 + 2M cached x 0.028 + 0.5M output x 0.42
    # calls, errors, input, cached, cache hit (2M of 3M), output, reasoning (part of output), cost
    assert by_model["deepseek-chat"][:8] == [
        "2",
        "1",
        "1,000,000",
        "2,000,000",
        "67%",
        "500,000",
        "300,000",
        "0.5460",
    ]
    assert by_model["deepseek-chat"][8:] == ["0.28/0.028/0.42", "built-in*"]
    # house-model, WORKER_PRICE_TABLE: 4M x 1.0 + 1M x 0.1 + 1M x 2.0
    assert by_model["house-model"][:8] == [
        "1",
        "0",
        "4,000,000",
        "1,000,000",
        "20%",
        "1,000,000",
        "0",
        "6.1000",
    ]
    assert by_model["mystery-model"][7:] == ["-", "none"]
    assert by_model["total"][:8] == [
        "4",
        "1",
        "5,000,010",
        "3,000,000",
        "37%",
        "1,500,005",
        "300,000",
        "6.6460+?",
    ]

    by_queue = table(output, "queue")
    assert by_queue["fast"][7] == "0.5460" and by_queue["gpu"][7] == "6.1000"
    assert by_queue["-"][:2] == ["1", "1"]  # the call made with a plain client token
    assert by_queue["?"][0] == "1"  # job record gone
    by_day = table(output, "day")
    assert by_day["2031-03-04"][:1] == ["2"] and by_day["2031-03-05"][:1] == ["2"]
    assert "1 unreadable line(s) skipped" in output
    assert "approximate list prices, check your provider" in output


def test_flat_prices_apply_to_every_model_but_the_table_wins(metrics_file, farm_redis):
    settings = StatsSettings(
        WORKER_PRICE_INPUT="2",
        WORKER_PRICE_OUTPUT="10",
        WORKER_PRICE_TABLE='{"house-model": {"input": 1.0, "output": 2.0}}',
    )
    by_model = table(stats_output(metrics_file, settings), "model")
    # no WORKER_PRICE_CACHE: cached tokens cost the input price
    assert by_model["deepseek-chat"][7] == f"{(1_000_000 * 2 + 2_000_000 * 2 + 500_000 * 10) / 1e6:.4f}"
    assert by_model["house-model"][7] == f"{(4_000_000 * 1 + 1_000_000 * 1 + 1_000_000 * 2) / 1e6:.4f}"
    assert by_model["mystery-model"][7] == f"{(10 * 2 + 5 * 10) / 1e6:.4f}"


def test_days_keeps_only_recent_rows(tmp_path, farm_redis):
    path = tmp_path / "metrics.jsonl"
    now = time.time()
    path.write_text(
        json.dumps(row(now - 10 * 86400, "deepseek-chat", output=5))
        + "\n"
        + json.dumps(row(now - 60, "deepseek-chat", output=7))
        + "\n"
    )
    by_model = table(stats_output(path, StatsSettings(), days=2), "model")
    assert by_model["deepseek-chat"][:7] == ["1", "0", "0", "0", "-", "7", "0"]


def test_unreachable_redis_groups_jobs_under_question_mark(metrics_file, monkeypatch):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    output = stats_output(metrics_file, StatsSettings())
    by_queue = table(output, "queue")
    assert by_queue["?"][0] == "3" and by_queue["-"][0] == "1"
    assert "Redis unreachable" in output


def test_prices_match_models_named_with_a_provider_prefix():
    book = PriceBook(StatsSettings())
    assert (
        book.price("deepseek/deepseek-chat") == book.price("deepseek-chat")
        and book.price("deepseek-chat") is not None
    )
    assert book.price("gpt-something") is None


def test_command_line(metrics_file, farm_redis):
    done = subprocess.run(
        [sys.executable, "-m", "codex_farm", "stats", "--metrics-file", str(metrics_file)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    assert table(done.stdout, "model")["deepseek-chat"][7] == "0.5460"
    missing = subprocess.run(
        [sys.executable, "-m", "codex_farm", "stats"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "WORKER_METRICS_FILE"},
    )
    assert missing.returncode == 2 and "WORKER_METRICS_FILE" in missing.stderr
