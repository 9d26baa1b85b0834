"""A check that hangs and leaves a daemon outside its process group: it times out, and the daemon dies with
the job."""

import re
from pathlib import Path

from farm_core.process_tree import find_job_processes
from tests.codex_farm.process_tree import ProcessId, alive, kill_all
from tests.fixtures.chaos import JobTraces, assert_no_leftovers, tail_lines, tail_when
from tests.fixtures.farm import connect_mcp
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.waiting import wait_until

# Double fork: the subshell starts the daemon and exits at once, so the daemon is reparented; setsid
# gives it a session and process group of its own; it keeps the check's output pipe open. Then the
# check itself hangs in the foreground.
DAEMON_CHECK = "( setsid sh -c 'echo \"daemon pid $$\"; exec sleep 600' & ); sleep 600"


def session_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[3])


async def test_check_with_escaped_daemon_times_out_and_leaves_no_process(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario({"name": "daemon_check", "turns": [{"text": "Nothing to change."}]})
    repo = make_repo(parent=farm.sandbox)
    check = {"name": "tests", "command": DAEMON_CHECK, "timeout_ms": 4000}
    async with connect_mcp(farm) as client:
        started = await call_ok(
            client,
            "start",
            {"prompt": "Check it. [[scenario:daemon_check]]", "repo": str(repo), "checks": [check]},
        )
        job_id = started["job_id"]
        before = await JobTraces.capture(client, job_id, "daemon pid")
        daemon_pid = int(re.search(r"daemon pid (\d+)", "\n".join(before.log)).group(1))
        daemon = [process for process in before.processes if process[0] == daemon_pid]
        assert daemon, "the daemon was not found by the job's marker"
        daemon_session = session_of(daemon_pid)
        await tail_when(client, job_id, "check tests: timed out")
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})
        after = await tail_lines(client, job_id)

    assert daemon_session == daemon_pid, (
        "the daemon should lead a session of its own (escaped the check's group)"
    )
    assert done["job_status"] == "completed", done
    assert done["checks"] == ["tests: timed out"]
    assert not alive(daemon[0]), "the daemon outlived its job"
    before.assert_log_kept(after)
    before.assert_no_orphans()
    assert_no_leftovers(Path(farm.env["WORKER_CACHE_DIR"]), job_id)


# The same escape, and the daemon also drops the job's marker: only its ancestry ties it to the job now.
UNMARKED_DAEMON_CHECK = (
    "( env -u FARM_JOB_ID setsid sh -c 'echo \"daemon pid $$\"; exec sleep 600' & ); sleep 600"
)


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] == "Z"


def process_id(pid: int) -> ProcessId:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return pid, int(stat[stat.rfind(")") + 2 :].split()[19])


async def test_a_daemon_without_the_job_marker_dies_with_the_job_too(farm, make_repo, scripted_gateway):
    scripted_gateway.add_scenario(
        {"name": "unmarked_daemon_check", "turns": [{"text": "Nothing to change."}]}
    )
    repo = make_repo(parent=farm.sandbox)
    check = {"name": "tests", "command": UNMARKED_DAEMON_CHECK, "timeout_ms": 4000}
    async with connect_mcp(farm) as client:
        arguments = {
            "prompt": "Check it. [[scenario:unmarked_daemon_check]]",
            "repo": str(repo),
            "checks": [check],
        }
        job_id = (await call_ok(client, "start", arguments))["job_id"]
        log = await tail_when(client, job_id, "daemon pid")
        daemon_pid = int(re.search(r"daemon pid (\d+)", "\n".join(log)).group(1))
        assert wait_until(
            lambda: Path(f"/proc/{daemon_pid}/cmdline").read_bytes().startswith(b"sleep"), timeout=10
        )
        daemon = process_id(daemon_pid)
        unmarked = b"FARM_JOB_ID=" not in Path(f"/proc/{daemon_pid}/environ").read_bytes()
        daemon_session = session_of(daemon_pid)
        done = await call_ok(client, "wait", {"job_id": job_id, "timeout_ms": 60000})

    try:
        assert unmarked and daemon_pid not in find_job_processes(job_id), "the daemon should carry no marker"
        assert daemon_session == daemon_pid, "the daemon should lead a session of its own"
        assert done["job_status"] == "completed" and done["checks"] == ["tests: timed out"], done
        assert not alive(daemon), "a daemon that dropped FARM_JOB_ID outlived its job"
        assert wait_until(lambda: not is_zombie(daemon_pid), timeout=10), (
            "the pool process that adopted it never reaped it"
        )
        assert_no_leftovers(Path(farm.env["WORKER_CACHE_DIR"]), job_id)
    finally:
        kill_all({daemon})
