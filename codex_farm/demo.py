"""`codex-farm demo`: one scripted job end to end through the real MCP frontend, fully offline."""

import json
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from codex_farm.children import ChildFailed
from codex_farm.local_farm import FarmPlan, LocalFarm, interrupt_once_on_stop_signals
from codex_farm.ports import free_port
from farm_core.errors import FarmError

# The scripted model plays `scripted_gateway/scenarios/demo.json` for this prompt.
PROMPT = "Create greeting.py with greet(name) in the style the README asks for. [[scenario:demo]]"
EXPECTED_CHANGED_FILES = ["greeting.py"]
SAMPLE_FILES = {
    # The check imports greeting.py; its bytecode must not show up as a change.
    ".gitignore": "__pycache__/\n",
    "README.md": (
        "# sample\n\nA tiny project for `codex-farm demo`.\n\n"
        'A greeting reads "Hello, <name>!": a comma after Hello, '
        "and greetings end with an exclamation mark.\n"
    ),
    "check.py": (
        '"""The sample project\'s check: greet() must greet by name, as the README says."""\n\n'
        "from greeting import greet\n\n"
        'assert greet("farm") == "Hello, farm!", greet("farm")\n'
        'print("greet(\'farm\') ->", greet("farm"))\n'
    ),
}
_GIT = [
    "git",
    "-c",
    "user.name=codex-farm demo",
    "-c",
    "user.email=demo@example.invalid",
    "-c",
    "commit.gpgsign=false",
]
_WAIT_MS = 90_000


class DemoFailed(FarmError):
    """A tool call of the demo job was refused or failed."""

    code = "demo_failed"
    hint = "the message has the tool's error; `codex-farm doctor` checks the farm"


def run_demo(profile: str | None = None) -> int:
    """Start a private farm (its scripted model playing profile), run the demo job through MCP; 0 only if
    it checks out."""
    began = time.monotonic()
    interrupt_once_on_stop_signals()
    try:
        with tempfile.TemporaryDirectory(prefix="codex-farm-demo-") as tmp:
            result = _run_in(Path(tmp), profile)
    except (ChildFailed, DemoFailed) as exc:
        _say(f"demo FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("demo interrupted")
        return 130
    print(json.dumps(result, indent=2), flush=True)
    problems = judge(result)
    elapsed = time.monotonic() - began
    if problems:
        _say(f"demo FAILED after {elapsed:.1f} s: {'; '.join(problems)}")
        return 1
    _say(
        f"demo passed in {elapsed:.1f} s: the job completed on the farm, its check "
        "passed, and it changed greeting.py."
    )
    return 0


def _run_in(root: Path, profile: str | None) -> dict:
    """Build the sample repo and the farm under root, run the job, stop the farm."""
    sandbox, run_dir = root / "sandbox", root / "run"
    repo = make_sample_repo(sandbox / "sample")
    # A queue and key prefix of its own keep the demo apart from any farm sharing REDIS_URL.
    tag = secrets.token_hex(4)
    plan = FarmPlan(
        run_dir=run_dir,
        adapter_port=free_port(),
        mcp_port=None,
        concurrency=1,
        scripted=True,
        sandbox_root=sandbox,
        cache_dir=root / "cache",
        extra_env={"FARM_QUEUE": f"demo-{tag}", "FARM_KEY_PREFIX": f"farm-demo-{tag}:"},
        profile=profile,
    )
    with LocalFarm(plan, say=_say) as farm:
        _say(f"offline: {farm.model_note}")
        return anyio.run(_run_job, farm.frontend_env(), repo)


def make_sample_repo(repo: Path) -> Path:
    """A git repo with a README and a check script, committed."""
    repo.mkdir(parents=True)
    for name, text in SAMPLE_FILES.items():
        (repo / name).write_text(text)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "sample project"]):
        subprocess.run([*_GIT, *args], cwd=repo, check=True, capture_output=True)
    return repo


async def _run_job(env: dict[str, str], repo: Path) -> dict:
    """`start` then `wait`, as Codex would call them, over stdio to `codex-farm mcp`."""
    server = StdioServerParameters(command=sys.executable, args=["-m", "codex_farm", "mcp"], env=env)
    # One `async with` in this task: the stdio client's cancel scope must be left where it was entered.
    async with Client(server) as client:
        check = {"name": "check", "command": f"{shlex.quote(sys.executable)} check.py", "timeout_ms": 30_000}
        started = await _call(
            client, "start", {"prompt": PROMPT, "repo": str(repo), "include_diff": True, "checks": [check]}
        )
        _say(f"job:     {started['job_id']} {started['job_status']} on queue {started['queue']}")
        return await _call(client, "wait", {"job_id": started["job_id"], "timeout_ms": _WAIT_MS})


async def _call(client: Client, tool: str, arguments: dict) -> dict:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise DemoFailed(f"{tool} failed: {result.structured_content or result.content}")
    return result.structured_content


def judge(result: dict) -> list[str]:
    """What is wrong with the demo job's result (empty when it did what the scenario scripts)."""
    problems = []
    if result.get("job_status") != "completed":
        problems.append(f"job_status is {result.get('job_status')!r}, not 'completed'")
    if result.get("checks") != ["check: passed"]:
        problems.append(f"checks are {result.get('checks')!r}")
    if result.get("changed_files") != EXPECTED_CHANGED_FILES:
        problems.append(f"changed_files are {result.get('changed_files')!r}")
    return problems


def _say(text: str) -> None:
    print(text, flush=True)
