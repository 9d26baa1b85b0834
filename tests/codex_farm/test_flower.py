"""`codex-farm flower` on a real farm: basic auth, read-only, and a real job listed by id with only its short,
redacted argsrepr — checked in the page a browser (headless Chromium) renders, whose screenshot CI keeps."""

import html
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from codex_farm.flower import flower_argv
from codex_farm.settings import FlowerSettings
from tests.fixtures.farm import Farm, connect_mcp
from tests.fixtures.leak_scan import record_page
from tests.fixtures.machine_tools import skip_or_fail
from tests.fixtures.mcp_calls import call_ok
from tests.fixtures.planted import plant
from tests.fixtures.processes import ServerProcess, free_port, start_server

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
SCREENSHOT = ARTIFACTS / "flower-tasks.png"  # the tasks page; the job's own page is flower-task.png
SCENARIO = {"name": "flower_job", "turns": [{"text": "Nothing to change."}]}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]


def chromium_or_skip() -> str:
    """Debian's chromium; a missing one skips the test on a developer machine and fails it under CI."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    skip_or_fail("chromium is not installed", "apt-get install chromium")


def start_flower(farm: Farm, login: str, log_path: Path) -> ServerProcess:
    """`codex-farm flower` on a free loopback port with the farm's REDIS_URL; ready once /healthcheck
    answers."""
    port = free_port()
    args = [sys.executable, "-m", "codex_farm", "flower", "--port", str(port)]
    return start_server(args, {**farm.env, "FLOWER_BASIC_AUTH": login}, log_path, port, "/healthcheck")


def wait_until(check, what: str, flower: ServerProcess, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        assert flower.process.poll() is None, f"flower exited:\n{flower.log()}"
        time.sleep(0.2)
    raise AssertionError(f"flower never {what}:\n{flower.log()}")


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"chromium failed ({run.returncode}):\n{run.stderr[-3000:]}"
    return run


def row_text(dom: str, job_id: str) -> str:
    """The visible text of the tasks table's row of a job (datatables gives each row the task id as its
    id)."""
    row = re.search(rf'<tr[^>]*\bid="{re.escape(job_id)}"[^>]*>(.*?)</tr>', dom, flags=re.DOTALL)
    assert row, f"job {job_id} is not in the rendered tasks table"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), flags=re.DOTALL)
    return " | ".join(html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells)


@pytest.mark.parametrize(
    "env, refusal",
    [
        ({}, "FLOWER_BASIC_AUTH is not set"),
        ({"FLOWER_BASIC_AUTH": "admin"}, "user:password"),
        (
            {"FLOWER_BASIC_AUTH": "admin:secret-pw", "FLOWER_UNAUTHENTICATED_API": "true"},
            "FLOWER_UNAUTHENTICATED_API",
        ),
    ],
)
def test_flower_refuses_to_start_open(env: dict[str, str], refusal: str):
    base = {
        k: v for k, v in os.environ.items() if k not in ("FLOWER_BASIC_AUTH", "FLOWER_UNAUTHENTICATED_API")
    }
    args = [sys.executable, "-m", "codex_farm", "flower", "--port", str(free_port())]
    run = subprocess.run(args, env={**base, **env}, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert refusal in run.stderr


def test_flower_is_read_only_unless_control_is_allowed(monkeypatch):
    monkeypatch.delenv("FLOWER_UNAUTHENTICATED_API", raising=False)
    settings = FlowerSettings(basic_auth="viewer:pw1, ops:pw2")
    viewer = flower_argv(settings, "127.0.0.1", 5555, allow_control=False)
    assert (
        "--read_only=True" in viewer
        and "--basic_auth=viewer:pw1,ops:pw2" in viewer
        and "--address=127.0.0.1" in viewer
    )
    assert "--read_only=False" in flower_argv(settings, "127.0.0.1", 5555, allow_control=True)


async def test_flower_lists_a_real_job_without_its_secret_or_home_path(
    farm: Farm, make_repo, scripted_gateway, tmp_path, monkeypatch
):
    binary = chromium_or_skip()
    monkeypatch.delenv("FLOWER_UNAUTHENTICATED_API", raising=False)
    scripted_gateway.add_scenario(SCENARIO)
    repo = make_repo(parent=farm.sandbox)
    secret = plant("key in a Flower prompt", "sk-planted-" + secrets.token_hex(12))
    home = f"/home/flower-{secrets.token_hex(4)}"
    # Both inside the 80 characters of the prompt Flower shows: redaction, not trimming, must hide them.
    prompt = f"Use key {secret} on {home}/src/app.py [[scenario:flower_job]]"
    user, password = "viewer", "pw-" + secrets.token_hex(8)

    # Flower only knows the jobs whose events it saw: up, and receiving events (a worker's heartbeat), before
    # the job.
    flower = start_flower(farm, f"{user}:{password}", tmp_path / "flower.log")
    try:
        auth = httpx.BasicAuth(user, password)
        wait_until(
            lambda: httpx.get(f"{flower.url}/workers?json=1", auth=auth).json()["data"],
            "saw a worker",
            flower,
        )

        async with connect_mcp(farm) as client:
            started = await call_ok(client, "start", {"prompt": prompt, "repo": str(repo)})
            done = await call_ok(client, "wait", {"job_id": started["job_id"], "timeout_ms": 90000})
        job_id = started["job_id"]
        assert done["job_status"] == "completed", done

        def succeeded() -> dict | None:
            answer = httpx.get(f"{flower.url}/api/task/info/{job_id}", auth=auth)
            return (
                answer.json()
                if answer.status_code == 200 and answer.json().get("state") == "SUCCESS"
                else None
            )

        info = wait_until(succeeded, f"saw job {job_id} succeed", flower)
        assert info["name"] == "codex_farm.run_job"
        assert (
            info["args"]
            == f"job={job_id} queue={farm.env['FARM_QUEUE']} attempt=1 prompt='Use key [REDACTED] on "
            "~/src/app.py [[scenario:flower_job]]'"
        )
        assert info["kwargs"] == "{}"
        assert info["result"] == "'completed'"

        # (a) basic auth: the page needs it; a viewer cannot act on jobs or workers (read-only).
        tasks_url = f"{flower.url}/tasks"
        assert httpx.get(tasks_url, auth=auth).status_code == 200
        assert httpx.get(tasks_url).status_code == 401
        assert httpx.get(tasks_url, auth=httpx.BasicAuth(user, "wrong")).status_code == 401
        assert httpx.get(f"{flower.url}/api/tasks").status_code == 401
        assert (
            httpx.post(
                f"{flower.url}/api/task/revoke/{job_id}", auth=auth, data={"terminate": "true"}
            ).status_code
            == 403
        )

        # (b) the pages as a browser renders them (credentials in the URL answer basic auth): the tasks table
        # fills
        # its rows from the datatable call after load; the job's own page shows every field Flower keeps of
        # it.
        site = f"http://{user}:{password}@127.0.0.1:{flower.port}"
        dom = chromium(binary, tmp_path / "profile-dom", "--dump-dom", f"{site}/tasks").stdout
        task_dom = chromium(
            binary, tmp_path / "profile-task-dom", "--dump-dom", f"{site}/task/{job_id}"
        ).stdout
        ARTIFACTS.mkdir(exist_ok=True)
        for name, url in ((SCREENSHOT.name, f"{site}/tasks"), ("flower-task.png", f"{site}/task/{job_id}")):
            (ARTIFACTS / name).unlink(missing_ok=True)
            chromium(
                binary,
                tmp_path / f"profile-{name}",
                f"--screenshot={ARTIFACTS / name}",
                "--window-size=1400,900",
                url,
            )
    finally:
        flower.stop()

    for what, page in (
        ("Flower tasks page (rendered)", dom),
        ("Flower task page (rendered)", task_dom),
        ("Flower task info (API)", str(info)),
    ):
        record_page(what, page)  # scanned again, for every planted secret, after the session
    row = row_text(dom, job_id)
    print(f"Flower's row of job {job_id}: {row}")
    assert "codex_farm.run_job" in row and job_id in row and "SUCCESS" in row
    assert (
        f"job={job_id} queue={farm.env['FARM_QUEUE']} attempt=1 prompt='Use key [REDACTED] on ~/src/app.py"
        in row
    )
    assert f"job={job_id} queue=" in task_dom and "[REDACTED]" in task_dom
    everything_flower_showed = dom + task_dom + str(info)
    for leak in (secret, "sk-planted-", home, str(repo), str(farm.sandbox), "snapshot_commit"):
        assert leak not in everything_flower_showed, f"Flower shows {leak!r}"
    for name in (SCREENSHOT.name, "flower-task.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, f"the screenshot {name} is missing or blank"
