"""The end-of-session leak scan flags planted secrets wherever they hide, and fails the session."""

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import fakeredis
import pytest

from tests.fixtures.leak_scan import (
    Finding,
    Ledger,
    find_secrets,
    report,
    scan_logs,
    scan_recorded,
    scan_redis,
)
from tests.fixtures.planted import GATEWAY_KEY, REDIS_PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"gateway key": GATEWAY_KEY, "redis password": REDIS_PASSWORD}


@pytest.fixture
def outside_scan():
    """A folder outside pytest's tmp dirs: the planted leaks below must not fail this very session."""
    with tempfile.TemporaryDirectory(prefix="leak-scan-test-") as folder:
        yield Path(folder)


def test_every_redis_type_in_every_db_is_scanned():
    server = fakeredis.FakeServer()
    clients = {db: fakeredis.FakeRedis(server=server, db=db) for db in (0, 5)}
    clients[0].set("clean", "nothing here")
    clients[0].set("s", f"key={GATEWAY_KEY}")
    clients[0].hset("h", mapping={"field": "x", "other": f"pw {REDIS_PASSWORD}"})
    clients[0].rpush("l", "a", GATEWAY_KEY.encode())
    clients[5].sadd("set", GATEWAY_KEY)
    clients[5].zadd("z", {REDIS_PASSWORD: 1.0})
    clients[5].xadd("stream", {"text": f"log line {GATEWAY_KEY}"})
    clients[5].set(f"name-{REDIS_PASSWORD}", "a key name counts too")

    scanned, findings = scan_redis(lambda db: fakeredis.FakeRedis(server=server, db=db), 16, SECRETS)

    assert scanned == 8
    assert set(findings) == {
        Finding("gateway key", "redis db0 key 's'"),
        Finding("redis password", "redis db0 key 'h'"),
        Finding("gateway key", "redis db0 key 'l'"),
        Finding("gateway key", "redis db5 key 'set'"),
        Finding("redis password", "redis db5 key 'z'"),
        Finding("gateway key", "redis db5 key 'stream'"),
        Finding("redis password", f"redis db5 key 'name-{REDIS_PASSWORD}'"),
    }


def test_log_files_tool_responses_and_pages_are_scanned(outside_scan: Path):
    tmp_path = outside_scan
    (tmp_path / "deep" / "logs").mkdir(parents=True)
    (tmp_path / "deep" / "logs" / "worker.log").write_text(f"started\nusing {GATEWAY_KEY}\n")
    (tmp_path / "adapter.log").write_text("clean\n")
    # a repo file, not a log: the model may read it
    (tmp_path / "config.env").write_text(f"API_KEY={GATEWAY_KEY}\n")
    count, findings = scan_logs({tmp_path}, SECRETS)
    assert count == 2
    assert findings == [Finding("gateway key", f"log file {tmp_path / 'deep' / 'logs' / 'worker.log'}")]

    ledger = Ledger(
        tool_responses=[("get", '{"ok": true}'), ("tail", f'{{"lines": ["{REDIS_PASSWORD}"]}}')],
        pages=[("tasks", "<html></html>")],
    )
    ledger.pages.append(("task", f"<td>{GATEWAY_KEY}</td>"))
    assert scan_recorded(ledger, SECRETS) == [
        Finding("redis password", "MCP tool response #2 (tail)"),
        Finding("gateway key", "page task"),
    ]
    assert find_secrets(GATEWAY_KEY.encode(), "bytes", SECRETS) == [Finding("gateway key", "bytes")]


def test_the_report_names_places_and_labels_never_values():
    ledger = Ledger(
        redis_keys=3,
        redis_dbs=16,
        log_files=2,
        findings=[Finding("gateway key", "log file /x/worker.log")] * 2,
    )
    text = report(ledger, SECRETS)
    assert text.splitlines() == [
        "leak scan: FAILED, planted secrets found (2 planted secrets; 3 Redis keys in 16 DBs, 2 log files, 0 "
        "Flower pages, 0 MCP tool responses; 0.00 s):",
        "  gateway key in log file /x/worker.log",
    ]
    assert GATEWAY_KEY not in text
    assert report(Ledger(), SECRETS).startswith("leak scan: no leak (2 planted secrets;")


def test_a_session_that_leaks_fails_with_a_report(outside_scan: Path):
    """A real pytest session with the plugin: its only test passes, but it logged a planted secret."""
    tmp_path = outside_scan
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent("""
        from tests.fixtures.planted import GATEWAY_KEY

        def test_passes_but_logs_a_secret(tmp_path):
            (tmp_path / "service.log").write_text("calling upstream with " + GATEWAY_KEY)
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.fixtures.leak_scan",
        f"--basetemp={tmp_path / 'base'}",
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
        str(tmp_path / "test_leaky.py"),
    ]
    run = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    assert (
        "leak scan: FAILED" in run.stdout
        and "gateway key in log file" in run.stdout
        and "service.log" in run.stdout
    )
    assert GATEWAY_KEY not in run.stdout
