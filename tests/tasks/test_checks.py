"""run_check: exit codes, redaction, bounded output, timeouts, escaped daemons, cancelling."""

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from farm_core.process_tree import find_job_processes, job_env_marker, kill_job_processes
from farm_core.redaction import Redactor
from tasks.checks import CheckOutcome, CheckSpec, run_check, run_checks
from tests.fixtures.waiting import is_gone

SECRET = "s3cr3t-value-do-not-leak"


@pytest.fixture
def job_id():
    """A fresh job id; whatever still carries its marker afterwards is killed."""
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    yield job_id
    kill_job_processes(job_id)


@pytest.fixture
def job_env(job_id):
    return {**os.environ, **job_env_marker(job_id)}


def check(command: str, cwd: Path, env: dict[str, str], timeout_s: float = 10.0, **kwargs) -> CheckOutcome:
    return run_check("check", command, cwd, env, timeout_s, Redactor([SECRET]), **kwargs)


def test_passing_command_is_passed_with_its_output(tmp_path, job_env):
    outcome = check("echo hello; pwd; echo oops >&2", tmp_path, job_env)

    assert outcome.status == "passed"
    assert outcome.exit_code == 0
    assert outcome.output.splitlines() == ["hello", str(tmp_path), "oops"]
    assert outcome.verdict() == "check: passed"


def test_failing_command_keeps_its_exit_code(tmp_path, job_env):
    outcome = check("echo broken; exit 3", tmp_path, job_env)

    assert outcome.status == "failed"
    assert outcome.exit_code == 3
    assert outcome.verdict() == "check: failed"


def test_pipefail_makes_a_failing_pipeline_fail(tmp_path, job_env):
    outcome = check("false | cat", tmp_path, job_env)

    assert outcome.status == "failed"
    assert outcome.exit_code == 1


def test_command_sees_the_given_environment_and_no_stdin(tmp_path, job_id, job_env):
    outcome = check('echo "$FARM_JOB_ID"; cat; echo end', tmp_path, job_env)

    assert outcome.output.splitlines() == [job_id, "end"]


def test_secrets_are_redacted_in_output_and_streamed_lines(tmp_path, job_env):
    streamed: list[str] = []
    command = f"echo token is {SECRET}; printf 'partial {SECRET}'"

    outcome = check(command, tmp_path, job_env, on_line=streamed.append)

    assert SECRET not in outcome.output
    assert streamed and all(SECRET not in line for line in streamed)
    assert "[REDACTED]" in streamed[-1]


def test_large_output_keeps_head_and_tail_with_an_omission_marker(tmp_path, job_env):
    streamed: list[str] = []
    # 20,000 lines of 52 bytes each: about 1 MB.
    command = "seq -f 'line %05g " + "x" * 40 + "' 1 20000"

    outcome = check(command, tmp_path, job_env, output_cap_bytes=4096, on_line=streamed.append)

    assert outcome.status == "passed"
    assert len(streamed) == 20000
    assert streamed[0].startswith("line 00001") and streamed[-1].startswith("line 20000")
    lines = outcome.output.splitlines()
    assert lines[0].startswith("line 00001") and lines[-1].startswith("line 20000")
    assert len(outcome.output.encode()) <= 4096
    markers = [line for line in lines if line.startswith("… ") and line.endswith(" bytes omitted …")]
    assert len(markers) == 1
    omitted = int(markers[0].split()[1])
    kept = sum(len(line.encode()) + 1 for line in lines if line not in markers)
    assert omitted + kept == 20000 * 52


def test_a_line_without_newline_is_cut_into_bounded_pieces(tmp_path, job_env):
    streamed: list[str] = []

    outcome = check("head -c 3000000 /dev/zero | tr '\\0' 'a'", tmp_path, job_env, on_line=streamed.append)

    assert outcome.status == "passed"
    assert max(len(line) for line in streamed) <= 8192
    assert sum(len(line) for line in streamed) == 3_000_000
    assert len(outcome.output.encode()) <= 65536


def test_timeout_kills_the_command(tmp_path, job_env):
    started = time.monotonic()

    outcome = check("echo started; sleep 30", tmp_path, job_env, timeout_s=1.0)

    assert outcome.status == "timed out"
    assert outcome.exit_code is None
    assert 0.9 <= time.monotonic() - started < 3.0
    assert outcome.output.splitlines() == ["started"]
    assert is_gone(outcome.pgid)
    assert find_job_processes(job_env["FARM_JOB_ID"]) == []


def test_background_daemon_holding_the_pipe_does_not_hang_the_check(tmp_path, job_id, job_env):
    started = time.monotonic()

    outcome = check("(setsid sleep 100 &) ; echo started", tmp_path, job_env)

    assert time.monotonic() - started < 3.0
    assert outcome.status == "passed"
    assert outcome.output.splitlines() == ["started"]
    daemons = find_job_processes(job_id)
    assert daemons, "the daemon escaped the group and is left to kill_job_processes"

    killed = kill_job_processes(job_id)

    assert set(daemons) <= set(killed)
    assert all(is_gone(pid) for pid in daemons)


def test_background_process_in_the_group_is_killed_when_the_command_exits(tmp_path, job_id, job_env):
    outcome = check("sleep 100 >/dev/null 2>&1 & echo $!", tmp_path, job_env)

    assert outcome.status == "passed"
    background_pid = int(outcome.output)
    deadline = time.monotonic() + 2
    while not is_gone(background_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert is_gone(background_pid)


def test_cancel_kills_the_command_promptly(tmp_path, job_env):
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    started = time.monotonic()

    outcome = check("sleep 30", tmp_path, job_env, cancelled=cancelled)

    assert outcome.status == "cancelled"
    assert outcome.exit_code is None
    assert time.monotonic() - started < 0.3 + 0.5
    assert is_gone(outcome.pgid)


def test_check_killed_by_a_cancelling_monitor_reads_as_cancelled(tmp_path, job_id, job_env):
    cancelled = threading.Event()

    def cancel_and_kill_the_job():
        cancelled.set()
        kill_job_processes(job_id)

    threading.Timer(0.3, cancel_and_kill_the_job).start()

    outcome = check("sleep 30", tmp_path, job_env, cancelled=cancelled)

    assert outcome.status == "cancelled"


def test_run_checks_runs_all_in_order_even_after_a_failure(tmp_path, job_env):
    specs = [CheckSpec("lint", "exit 1", 5.0), ("tests", "echo ok", 5.0)]

    outcomes = run_checks(specs, tmp_path, job_env, Redactor([]))

    assert [outcome.verdict() for outcome in outcomes] == ["lint: failed", "tests: passed"]


def test_run_checks_starts_nothing_after_a_cancel(tmp_path, job_env):
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    specs = [("first", "sleep 30", 10.0), ("second", "echo never", 10.0)]

    outcomes = run_checks(specs, tmp_path, job_env, Redactor([]), cancelled=cancelled)

    assert [outcome.verdict() for outcome in outcomes] == ["first: cancelled"]


PYTEST_FAILURE_OUTPUT = """\
============================= test session starts ==============================
collected 3 items

tests/test_math.py ..F                                                   [100%]

=================================== FAILURES ===================================
________________________________ test_addition _________________________________

    def test_addition():
>       assert add(2, 2) == 5
E       assert 4 == 5
E        +  where 4 = add(2, 2)

tests/test_math.py:9: AssertionError
=========================== short test summary info ============================
FAILED tests/test_math.py::test_addition - assert 4 == 5
========================= 1 failed, 2 passed in 0.02s ==========================
"""


def outcome_with_output(output: str) -> CheckOutcome:
    return CheckOutcome("pytest", "failed", 1, 10, output, 1)


def test_decisive_lines_pick_the_pytest_failure():
    lines = outcome_with_output(PYTEST_FAILURE_OUTPUT).decisive_lines()

    assert "E       assert 4 == 5" in lines
    assert "tests/test_math.py:9: AssertionError" in lines
    assert "FAILED tests/test_math.py::test_addition - assert 4 == 5" in lines
    assert "collected 3 items" not in lines
    assert lines[-1].startswith("=====") and "1 failed" in lines[-1]
    assert len(lines) == len(set(lines))


def test_decisive_lines_are_bounded_and_keep_the_ending():
    output = "\n".join([f"Error number {i}" for i in range(100)] + ["the end"])

    lines = outcome_with_output(output).decisive_lines(max_lines=8)

    assert len(lines) == 8
    assert lines[0] == "Error number 0"
    assert lines[-1] == "the end"


def test_decisive_lines_of_quiet_output_are_its_last_lines():
    output = "\n".join(f"step {i}" for i in range(10))

    assert outcome_with_output(output).decisive_lines() == [f"step {i}" for i in range(5, 10)]
