"""No process of a job survives kill_job_processes, and no other job's process is touched."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from farm_core import process_tree
from farm_core.process_tree import find_job_processes, job_env_marker, kill_job_processes, kill_process_group
from tests.fixtures.waiting import is_gone


def unique_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def wait_until(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def start_job_shell(script: str, job_id: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["/bin/bash", "-c", script],
        env={**os.environ, **job_env_marker(job_id)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def started_pids():
    """PIDs a test started; any still alive are killed by PID afterwards."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_job_env_marker_names_the_job():
    assert job_env_marker("job-7") == {"FARM_JOB_ID": "job-7"}


def test_kill_job_processes_ends_children_grandchildren_and_setsid_daemons(tmp_path, started_pids):
    job_id = unique_job_id()
    pid_file = tmp_path / "pids"
    script = f"""
        sleep 1000 & echo $! >> {pid_file}
        ( setsid sleep 1000 & echo $! >> {pid_file}; sleep 1000 ) & echo $! >> {pid_file}
        wait
    """
    shell = start_job_shell(script, job_id)
    started_pids.append(shell.pid)
    assert wait_until(lambda: pid_file.exists() and len(pid_file.read_text().split()) == 3)
    descendants = [int(pid) for pid in pid_file.read_text().split()]
    started_pids.extend(descendants)
    all_pids = [shell.pid, *descendants]
    assert wait_until(lambda: set(all_pids) <= set(find_job_processes(job_id)))
    daemons = [pid for pid in descendants if os.getsid(pid) != shell.pid]
    assert daemons, "the setsid daemon should have left the job's session"

    killed = kill_job_processes(job_id, known_groups=[shell.pid])
    shell.wait(timeout=5)

    assert set(daemons) <= set(killed)
    assert wait_until(lambda: all(is_gone(pid) for pid in all_pids))
    assert find_job_processes(job_id) == []


def test_kill_job_processes_leaves_a_job_whose_id_only_shares_a_prefix(started_pids):
    base_id = unique_job_id()
    target = start_job_shell("exec sleep 1000", f"{base_id}-1")
    other = start_job_shell("exec sleep 1000", f"{base_id}-10")
    started_pids.extend([target.pid, other.pid])
    # Both must have finished exec'ing into sleep: mid-exec a process's environ reads empty.
    assert wait_until(lambda: find_job_processes(f"{base_id}-1") == [target.pid])
    assert wait_until(lambda: find_job_processes(f"{base_id}-10") == [other.pid])

    kill_job_processes(f"{base_id}-1", known_groups=[target.pid])
    target.wait(timeout=5)

    assert not is_gone(other.pid)
    assert find_job_processes(f"{base_id}-10") == [other.pid]


def test_find_job_processes_skips_zombies(started_pids):
    job_id = unique_job_id()
    exited = start_job_shell("exit 0", job_id)
    started_pids.append(exited.pid)
    assert wait_until(lambda: is_gone(exited.pid))  # a zombie: exited but not yet reaped by us
    try:
        assert find_job_processes(job_id) == []
    finally:
        exited.wait()


def test_find_job_processes_finds_nothing_for_an_unknown_job():
    assert find_job_processes(unique_job_id()) == []


def test_kill_process_group_uses_sigkill_on_a_group_that_ignores_sigterm(started_pids):
    shell = subprocess.Popen(
        ["/bin/bash", "-c", "trap '' TERM; sleep 1000 & echo $!; wait"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    started_pids.append(shell.pid)
    child_pid = int(shell.stdout.readline())
    started_pids.append(child_pid)
    shell.stdout.close()

    started = time.monotonic()
    kill_process_group(shell.pid, grace_s=0.3)

    assert shell.wait(timeout=5) == -signal.SIGKILL
    assert time.monotonic() - started >= 0.3
    assert wait_until(lambda: is_gone(child_pid))


def test_kill_process_group_returns_early_when_sigterm_suffices(started_pids):
    shell = start_job_shell("exec sleep 1000", unique_job_id())
    started_pids.append(shell.pid)

    started = time.monotonic()
    kill_process_group(shell.pid, grace_s=5.0)

    assert shell.wait(timeout=5) == -signal.SIGTERM
    assert time.monotonic() - started < 2.0


def test_kill_process_group_ignores_a_group_that_is_gone():
    shell = subprocess.Popen(["/bin/true"], start_new_session=True)
    shell.wait()
    kill_process_group(shell.pid, grace_s=0.1)


# --- a pool process adopts its job's orphans -------------------------------------------------------

# A worker pool process as the Celery hook makes it (a child subreaper, set with prctl as the hook does),
# running one job: a check that double-forks a daemon which drops the job's marker and leaves the session.
POOL = """\
import ctypes, json, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
from farm_core import process_tree
job_id = sys.argv[1]
check = subprocess.Popen(
    ["/bin/bash", "-c", "( env -u FARM_JOB_ID setsid sh -c 'echo $$; exec sleep 600' & ); exec sleep 600"],
    env={**os.environ, **process_tree.job_env_marker(job_id)}, stdout=subprocess.PIPE, start_new_session=True,
)
print(check.stdout.readline().decode().strip(), flush=True)
sys.stdin.readline()  # the test looks at the daemon first
killed = process_tree.kill_job_processes(job_id, known_groups=[check.pid])
check.wait()
reap = getattr(process_tree, "reap_orphans", lambda: [])
print(json.dumps({"killed": killed, "reaped": reap()}), flush=True)
"""


def parent_of(pid: int) -> int:
    stat = open(f"/proc/{pid}/stat").read()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def test_a_pool_process_kills_and_reaps_a_daemon_that_dropped_the_job_marker(started_pids):
    job_id = unique_job_id()
    pool = subprocess.Popen(
        [sys.executable, "-c", POOL, job_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    started_pids.append(pool.pid)
    daemon = int(pool.stdout.readline())
    started_pids.append(daemon)
    assert wait_until(lambda: parent_of(daemon) == pool.pid), (
        "the orphaned daemon should be adopted by the pool process"
    )
    assert wait_until(lambda: Path(f"/proc/{daemon}/cmdline").read_bytes().startswith(b"sleep"))
    assert b"FARM_JOB_ID=" not in Path(f"/proc/{daemon}/environ").read_bytes() and os.getsid(daemon) == daemon
    assert daemon not in find_job_processes(job_id), "the marker scan alone cannot see it"

    pool.stdin.write("\n")
    pool.stdin.flush()
    outcome = json.loads(pool.stdout.readline())

    assert daemon in outcome["killed"], outcome
    assert daemon in outcome["reaped"], "the pool process must collect the daemon it adopted (no zombie left)"
    assert is_gone(daemon)
    pool.stdin.close()
    assert pool.wait(timeout=10) == 0


def test_a_process_that_adopts_nothing_kills_only_marked_processes(started_pids):
    # The worker's main process, the frontend and the reconciler call kill_job_processes too: their children
    # (pool processes, servers) carry no marker and must survive any job's clean-up.
    bystander = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    started_pids.append(bystander.pid)
    assert not process_tree.is_child_subreaper()

    kill_job_processes(unique_job_id())

    assert bystander.poll() is None


def test_become_subreaper_marks_only_the_calling_process():
    probe = "from farm_core import process_tree as p; p.become_subreaper(); print(p.is_child_subreaper())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "True", done.stderr


# A process running two jobs' commands at once (a non-prefork pool): killing one job spares the other's.
TWO_JOBS = """\
import json, os, subprocess, sys
from farm_core import process_tree
process_tree.become_subreaper()
def start(job_id):
    env = {**os.environ, **process_tree.job_env_marker(job_id)}
    return subprocess.Popen(["sleep", "1000"], env=env, start_new_session=True)
mine, theirs = start(sys.argv[1]), start(sys.argv[2])
while process_tree.find_job_processes(sys.argv[2]) != [theirs.pid]:
    pass  # until it has exec'd: mid-exec a process's environ reads empty
killed = process_tree.kill_job_processes(sys.argv[1])
print(json.dumps({"killed": killed, "mine": mine.pid, "theirs_alive": theirs.poll() is None}))
theirs.kill()
"""


def test_a_subreaper_spares_descendants_marked_for_another_job():
    mine, theirs = unique_job_id(), unique_job_id()
    done = subprocess.run(
        [sys.executable, "-c", TWO_JOBS, mine, theirs], capture_output=True, text=True, timeout=30
    )
    outcome = json.loads(done.stdout)
    assert outcome["killed"] == [outcome["mine"]] and outcome["theirs_alive"], outcome
