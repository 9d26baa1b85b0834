"""Every MCP tool under fuzzing, through the real server and the official client in memory.

Arguments come from each tool's inputSchema (as tools/list gives it, so a new tool is fuzzed too): a quarter
of the calls valid by construction (the schema plus the tool's rules in tests/fixtures/tool_rules.py), which
must succeed, the rest adversarial (paths, job ids, types, sizes). Every call must end in a well-formed
structured result or a structured error with a stable code and a one-line hint — never an internal error, a
protocol error or a hang. Afterwards the repo is byte-identical for read-only tools, nothing outside
SANDBOX_ROOT was written, and the server still answers. Real redis-server, real git, the adapter in front of
the scripted gateway; `start` jobs go to a queue no worker consumes and are cancelled at the end.
"""

import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import jsonschema
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import given
from mcp import Client

from farm_core import queue
from farm_core.job_models import JobStatus
from farm_core.settings import FarmSettings
from mcp_frontend.errors import ToolCallError
from mcp_frontend.server import build_server
from mcp_frontend.service import FarmService
from mcp_frontend.settings import FrontendSettings
from tests.fixtures.adapter import RunningAdapter, launch_adapter
from tests.fixtures.hypothesis_profiles import fuzz_settings
from tests.fixtures.tool_arguments import UNDECODABLE_NAME, FuzzCall, FuzzLayout, SchemaStrategies, ToolRules
from tests.fixtures.tool_rules import FINISHED_CHECK, SeededJobs, tool_rules
from tests.mcp_frontend.cheap.support import make_job

# Examples per tool in CI (derandomized); a few hundred each keeps the whole file near a minute on 2 cores.
CI_EXAMPLES = 300
# Fewer for tools whose successes are dear: a model call, a snapshot, or a wait to its timeout.
CI_EXAMPLES_BY_TOOL = {"start": 150, "shell": 200, "review": 150, "draft": 150, "analyze": 200, "wait": 200}
DEEP_EXAMPLES = 1500
CALL_TIMEOUT_S = 60.0  # a call still running past this is a hang
# Tools that may write: snapshots add refs under .git (the working tree stays as it is); the others edit
# files.
SNAPSHOTTING = {"start", "shell"}
EDITING = {"apply", "apply_edits"}
INTERNAL = ToolCallError.code  # the catch-all for an exception no tool turned into its own error

PATCH = (
    b"diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n def "
    b"greet():\n"
    b"-    return 'hello'\n+    return 'hello farm'\n"
)
REVIEW_ANSWER = (
    '{"verdict": "accept", "findings": [{"file": "src/app.py", "line": 1, "severity": "info", "message": '
    '"ok"}]}'
)


def stable_codes() -> set[str]:
    """Every error code a tool may answer with: ToolCallError's subclasses' codes (the catch-all excluded)."""
    codes, pending = set(), list(ToolCallError.__subclasses__())
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending += cls.__subclasses__()
    return codes - {INTERNAL}


def tool_names() -> list[str]:
    """The tool names tools/list gives for a server on dummy settings (nothing is called)."""
    service = FarmService(FrontendSettings(), FarmSettings(redis_url="redis://127.0.0.1:9/0"))

    async def names() -> list[str]:
        async with Client(build_server(service)) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    return anyio.run(names)


@pytest.fixture(scope="module")
def fuzz_adapter(scripted_gateway_server, tmp_path_factory) -> Iterator[RunningAdapter]:
    """The real adapter in front of the scripted gateway, for analyze, review and draft (one per module)."""
    adapter = launch_adapter(scripted_gateway_server.url, tmp_path_factory.mktemp("fuzz-adapter"))
    yield adapter
    adapter.server.stop()


@dataclass
class Fuzzed:
    """The running server, its client (driven through a blocking portal) and the places it must not write."""

    portal: BlockingPortal
    client: Client
    service: FarmService
    layout: FuzzLayout
    known_ids: SeededJobs
    tools: dict
    server_log: list[str]

    def call(self, tool: str, arguments: dict):
        async def bounded():
            with anyio.fail_after(CALL_TIMEOUT_S):
                return await self.client.call_tool(tool, arguments)

        return self.portal.call(bounded)


def make_layout(tmp_path: Path, make_repo) -> FuzzLayout:
    """sandbox/{proj (git, edited and untracked files, escape -> outside), plain/, out-link, loop,
    dangling}; outside/; home/."""
    sandbox, outside, home = tmp_path / "sandbox", tmp_path / "outside", tmp_path / "home"
    for folder in (sandbox, outside, home):
        folder.mkdir()
    files = {
        "src/app.py": "def greet():\n    return 'hello'\n",
        "README.md": "# proj\n",
        "sub dir/ünï cödé.txt": "ünï\n",
        "[x].py": "x = 1\n",
    }
    repo = make_repo(files, name="proj", parent=sandbox)
    (repo / "src/app.py").write_text("def greet():\n    return 'hello there'\n")  # uncommitted edit
    (repo / "notes.txt").write_text("untracked needle\n")
    (repo / "escape").symlink_to(outside)
    (repo / UNDECODABLE_NAME).write_text("not UTF-8 in its name\n")
    (sandbox / "plain").mkdir()
    (sandbox / "plain" / "file.txt").write_text("plain needle\n")
    (sandbox / "out-link").symlink_to(outside)
    (sandbox / "loop").symlink_to(sandbox / "loop")
    (sandbox / "dangling").symlink_to(tmp_path / "nowhere")
    (outside / "secret.txt").write_text("outside secret\n")
    make_repo({"other.py": "y = 2\n"}, name="other", parent=outside)
    (home / "secret.txt").write_text("home secret\n")
    return FuzzLayout(sandbox=sandbox, repo=repo, outside=outside, home=home)


def tree_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """(mode, bytes or link target) of every entry under folder, symlinks not followed: what must not
    change."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            mode = path.lstat().st_mode
            if path.is_symlink():
                content = os.readlink(path).encode()
            elif path.is_file():
                content = path.read_bytes()
            else:
                content = b""
            state[path.relative_to(folder).as_posix()] = (mode, content)
    return state


def seed_jobs(service: FarmService) -> SeededJobs:
    """Jobs in every state the tools read: finished with a patch, checks and a log; failed; queued;
    running; cancelled."""
    check = FINISHED_CHECK
    log = [("status", f"check {check}: running"), ("check", "1 passed"), ("status", f"check {check}: passed")]
    log.append(("tool", "Write src/app.py"))
    return SeededJobs(
        finished=make_job(
            service, prompt="p", patch=PATCH, checks={check: "passed"}, log=log, changed=["src/app.py"]
        ),
        failed=make_job(service, status=JobStatus.failed),
        queued=make_job(service, status=JobStatus.queued),
        running=make_job(service, status=JobStatus.running),
        cancelled=make_job(service, status=JobStatus.cancelled, patch=b"not a patch \x00\xff"),
    )


@pytest.fixture
def fuzzed(
    tmp_path, make_repo, redis_server, fuzz_adapter, scripted_gateway, monkeypatch
) -> Iterator[Fuzzed]:
    """The frontend in process on the test's layout and Redis, seeded jobs, and the official client
    connected in memory."""
    layout = make_layout(tmp_path, make_repo)
    monkeypatch.setenv("HOME", str(layout.home))  # `~` paths aim at a folder outside the sandbox we watch
    tag = uuid.uuid4().hex[:8]
    # No worker runs the fuzzed jobs, so shell and wait always block until WAIT_MAX_MS: keep it short.
    frontend = FrontendSettings(
        sandbox_root=layout.sandbox,
        lite_cache_dir=tmp_path / "lite-cache",
        lite_cache_ttl_s=3600,
        wait_default_ms=10,
        wait_max_ms=30,
    )
    farm = FarmSettings(
        redis_url=redis_server.url,
        key_prefix=f"fuzz-{tag}:",
        default_queue=f"fuzz-{tag}",
        adapter_url=fuzz_adapter.url,
        adapter_token=fuzz_adapter.token,
    )
    # The in-process Celery app enqueues on the test's redis-server (its pools are rebuilt lazily).
    monkeypatch.setattr(queue.app.conf, "broker_url", redis_server.url)
    monkeypatch.setattr(queue.app, "_pool", None)
    monkeypatch.setattr(queue.app.amqp, "_producer_pool", None)
    scripted_gateway.add_scenario({"name": "fuzz-cheap", "turns": [{"text": REVIEW_ANSWER}]})
    scripted_gateway.configure(default_scenario="fuzz-cheap")
    service = FarmService(frontend, farm)
    redis = redis_server.client()
    keys_before = set(redis.keys())
    known_ids = seed_jobs(service)
    server_log = ListHandler()
    logging.getLogger("codex_farm.mcp").addHandler(server_log)
    with start_blocking_portal() as portal:
        client = portal.wrap_async_context_manager(Client(build_server(service)))
        with client as connected:
            tools = {tool.name: tool for tool in portal.call(connected.list_tools).tools}
            yield Fuzzed(portal, connected, service, layout, known_ids, tools, server_log.messages)
        portal.call(service.aclose)
    logging.getLogger("codex_farm.mcp").removeHandler(server_log)
    drop_new_keys(redis, keys_before, service)


class ListHandler(logging.Handler):
    """Keeps the frontend's log lines (the traceback of an internal error) to show in a failure."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def drop_new_keys(redis, keys_before: set[bytes], service: FarmService) -> None:
    """Delete what the test added to Redis: its prefixed keys, and the queues (with Celery's bindings) it
    enqueued on."""
    queues = {
        record.queue.encode()
        for job_id in service.store.list_ids(10_000)
        if (record := service.store.get(job_id))
    }
    exact = {
        key
        for queue in queues
        for key in (queue, b"_kombu.binding." + queue, b"_kombu.binding_permanent." + queue)
    }
    # kombu's priority queues
    prefixes = (
        service.farm.key_prefix.encode(),
        *(queue + b"\x06\x16" for queue in queues),
    )
    for key in set(redis.keys()) - keys_before:
        if key in exact or key.startswith(prefixes):
            redis.delete(key)


@pytest.mark.parametrize("tool", tool_names())
def test_tool_survives_fuzzed_arguments(tool, fuzzed: Fuzzed):
    """Hundreds of generated calls of one tool: each a valid result or a structured error; then nothing
    leaked out."""
    assert tool in fuzzed.tools, "tools/list changed between collection and the test"
    schema = fuzzed.tools[tool].input_schema
    codes = stable_codes()
    layout = fuzzed.layout
    before_sandbox, before_repo = tree_state(layout.sandbox), tree_state(layout.repo)
    before_outside = {folder: tree_state(folder) for folder in (layout.outside, layout.home)}
    rules = rules_of(fuzzed, tool)
    outcomes, valid_outcomes = Counter(ok=0, error=0), Counter(ok=0, error=0)
    sent: set[str] = set()
    # a call not built valid succeeded: on a stateful tool it may have changed what valid calls meet
    other_landed = False

    @fuzz_settings(CI_EXAMPLES_BY_TOOL.get(tool, CI_EXAMPLES), DEEP_EXAMPLES)
    @given(SchemaStrategies(layout, fuzzed.known_ids).calls(schema, rules))
    def call_once(call: FuzzCall):
        nonlocal other_landed
        result = fuzzed.call(tool, call.arguments)
        outcome = check_result(tool, fuzzed.tools[tool], result, codes, fuzzed.server_log)
        outcomes[outcome] += 1
        sent.update(call.arguments)
        if call.valid:
            valid_outcomes[outcome] += 1
            refusable = rules.stateful and other_landed
            hint = "tell tests/fixtures/tool_rules.py what the schema cannot say, or fix the tool"
            assert outcome == "ok" or refusable, (
                f"{tool}: a valid call was refused: {result.structured_content}; {hint}"
            )
        else:
            other_landed |= outcome == "ok"

    call_once()
    assert set(schema.get("properties", {})) <= sent, "some argument was never fuzzed"
    assert outcomes["ok"], (
        "no call succeeded: give this tool's valid calls rules in tests/fixtures/tool_rules.py"
    )

    assert_nothing_written_outside(layout, before_outside)
    if tool in SNAPSHOTTING:
        assert working_files(tree_state(layout.repo)) == working_files(before_repo), (
            "a snapshot changed the working tree"
        )
        cancel_started_jobs(fuzzed)
    elif tool in EDITING:
        assert outside_repo(tree_state(layout.sandbox), layout) == outside_repo(before_sandbox, layout), (
            "an edit left the repo"
        )
    else:
        assert tree_state(layout.sandbox) == before_sandbox, f"{tool} is read-only but changed the sandbox"
    assert_server_answers(fuzzed)
    valid_summary = f"{valid_outcomes['ok']} of {valid_outcomes.total()} valid calls succeeded"
    print(f"{tool}: {outcomes['ok']} results, {outcomes['error']} structured errors; {valid_summary}")


def rules_of(fuzzed: Fuzzed, tool: str) -> ToolRules:
    """The tool's rules for valid calls on this layout and these jobs; a tool without any gets its schema's
    alone."""
    service = fuzzed.service
    return tool_rules(fuzzed.layout, fuzzed.known_ids, service.frontend, service.farm).get(tool, ToolRules())


def check_result(tool: str, spec, result, codes: set[str], server_log: list[str]) -> str:
    """'ok' or 'error' after checking the result's shape; fails on anything unstructured."""
    texts = [block.text for block in result.content if block.type == "text"]
    assert texts, f"{tool}: a result without text content"
    body = result.structured_content
    assert isinstance(body, dict), f"{tool}: no structured content: {texts[0][:300]}"
    # What a real transport writes: UTF-8 JSON, which cannot hold a lone surrogate (in memory, nothing is
    # encoded).
    for text in (*texts, json.dumps(body, ensure_ascii=False)):
        text.encode("utf-8")
    if result.is_error:
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"code", "message", "hint"}, error
        assert error["code"] in codes, f"{tool}: unexpected error {error}\n" + "".join(server_log[-1:])[:4000]
        assert isinstance(error["message"], str) and error["message"].strip(), error
        assert isinstance(error["hint"], str) and error["hint"].strip() and "\n" not in error["hint"], error
        assert json.loads(texts[0]) == body
        return "error"
    assert "error" not in body, body
    if spec.output_schema:
        jsonschema.validate(body, spec.output_schema)
    return "ok"


def working_files(state: dict) -> dict:
    return {path: entry for path, entry in state.items() if path != ".git" and not path.startswith(".git/")}


def outside_repo(state: dict, layout: FuzzLayout) -> dict:
    return {path: entry for path, entry in state.items() if not path.startswith(layout.repo.name + "/")}


def assert_nothing_written_outside(layout: FuzzLayout, before: dict[Path, dict]) -> None:
    for folder, state in before.items():
        assert tree_state(folder) == state, f"something was written in {folder.name}/, outside SANDBOX_ROOT"
    top = {entry.name for entry in layout.sandbox.parent.iterdir()}
    assert top <= {"sandbox", "outside", "home", "lite-cache"}, f"new entries next to the sandbox: {top}"


def cancel_started_jobs(fuzzed: Fuzzed) -> None:
    """Every job the fuzzing started waits on the broker, still queued (no worker consumes its queue);
    cancel them all."""
    store = fuzzed.service.store
    started = [store.get(job_id) for job_id in store.list_ids(10_000) if job_id not in fuzzed.known_ids]
    for queue_name, count in Counter(record.queue for record in started).items():
        assert store.redis.llen(queue_name) == count, f"queue {queue_name}: not one broker message per job"
    for record in started:
        assert record.status == JobStatus.queued, record
        result = fuzzed.call("cancel", {"job_id": record.job_id})
        assert not result.is_error and result.structured_content["job_status"] == "cancelled", (
            result.structured_content
        )


def assert_server_answers(fuzzed: Fuzzed) -> None:
    names = {tool.name for tool in fuzzed.portal.call(fuzzed.client.list_tools).tools}
    assert names == set(fuzzed.tools)
    result = fuzzed.call("get", {"job_id": fuzzed.known_ids.finished})
    assert not result.is_error and result.structured_content["job_status"] == "completed"


LONG_PATH = "a/" * 2100
# Arguments fuzzing once broke the server with (an internal error each), and the error or result each now
# gives.
FOUND_BY_FUZZING = [
    ("get", {"job_id": "{known}\ud800"}, "unknown_job"),
    ("tail", {"job_id": "{known}", "cursor": "{known}"}, "invalid_argument"),
    ("analyze", {"question": "x", "globs": ["."]}, "invalid_argument"),
    ("analyze", {"question": "x", "globs": ["a/" * 400]}, "invalid_argument"),
    ("analyze", {"question": "x", "globs": ["**a"]}, "invalid_argument"),
    ("analyze", {"question": "x", "files": ["~no_such_user_zq/x"]}, "invalid_argument"),
    ("analyze", {"question": "\ud800?", "globs": ["proj/src/*.py"]}, None),
    ("review", {"files": [LONG_PATH]}, "invalid_argument"),
    ("draft", {"kind": "commit", "repo": "proj"}, None),
    ("read_pack", {"paths": ["proj"]}, None),
    ("history", {"path": LONG_PATH}, "invalid_argument"),
    ("history", {"path": "proj/\ud800"}, "invalid_argument"),
    ("history", {"path": f"proj/{UNDECODABLE_NAME}"}, None),
    ("diff_digest", {"repo": LONG_PATH}, "invalid_argument"),
    ("diff_digest", {"repo": "proj"}, None),
    ("search", {"pattern": "x", "paths": ["proj"], "glob": "[z-a]"}, "invalid_argument"),
    ("search", {"pattern": "\ud800", "paths": ["proj"]}, "invalid_argument"),
    ("search", {"pattern": "needle", "paths": ["proj/\ud800"]}, "invalid_argument"),
    ("search", {"pattern": "\x00", "paths": ["proj"]}, None),  # ripgrep's argv cannot carry a NUL
    (
        "apply_edits",
        {"repo": "proj", "edits": [{"path": LONG_PATH, "find": "x", "replace": "y"}]},
        "invalid_argument",
    ),
    ("start", {"prompt": "p", "repo": "proj", "base": "\x00"}, "snapshot_failed"),
    ("start", {"prompt": "p", "repo": "proj", "base": "a" * 200_001}, "snapshot_failed"),
    ("start", {"prompt": "p", "repo": "proj", "queue": "q\ud800"}, "invalid_argument"),
    ("start", {"prompt": "p", "repo": "~no_such_user_zq"}, "invalid_argument"),
]


def test_what_fuzzing_found_stays_fixed(fuzzed: Fuzzed):
    """The falsifying examples, replayed: each is a structured error with its code, or a result with valid
    UTF-8 paths."""
    codes = stable_codes()
    for tool, arguments, code in FOUND_BY_FUZZING:
        arguments = json.loads(json.dumps(arguments).replace("{known}", fuzzed.known_ids.finished))
        result = fuzzed.call(tool, arguments)
        outcome = check_result(tool, fuzzed.tools[tool], result, codes, fuzzed.server_log)
        if code is None:
            assert outcome == "ok", (tool, arguments, result.structured_content)
            json.dumps(result.structured_content).encode("utf-8")  # no lone surrogate in what goes back
        else:
            assert outcome == "error" and result.structured_content["error"]["code"] == code, (
                tool,
                result.structured_content,
            )
    assert "bad-\ufffd-name.txt" in json.dumps(
        fuzzed.call("read_pack", {"paths": ["proj"]}).structured_content, ensure_ascii=False
    )
    cancel_started_jobs(fuzzed)
