"""Fan-out in the frontend: validating `jobs`/`matrix` all-or-nothing, shared snapshots, and `wait` over
several jobs.

The service runs against the session's real Redis with Celery's hand-off replaced by a list, so nothing
reaches a worker."""

import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from farm_core.job_models import CheckSpec, CompactResult, JobStatus
from farm_core.refs import SNAPSHOT_REF_PREFIX
from mcp_frontend import service as service_module
from mcp_frontend.errors import InvalidArgument, RepoOutsideSandbox, SnapshotFailed, UnknownJob
from mcp_frontend.fanout import expand, merge
from mcp_frontend.server import build_server
from mcp_frontend.start_args import JobEntry, StartArgs, StartRequest
from tests.fixtures.git_repos import git
from tests.fixtures.recording_service import Recording, recording_service

# --- expand: the entries over the defaults, before any git or Redis ---


def test_entries_take_the_top_level_arguments_as_defaults():
    jobs = [JobEntry(), JobEntry(prompt="other", max_turns=9), JobEntry(base="worktree", checks=[])]
    checks = [CheckSpec(name="tests", command="true")]
    request = StartRequest(prompt="fix it", repo="app", base="HEAD", checks=checks, max_turns=5, jobs=jobs)
    entries = expand(request, limit=8)

    assert [label for label, _ in entries] == ["jobs[0]", "jobs[1]", "jobs[2]"]
    first, second, third = (args for _, args in entries)
    assert (first.prompt, first.repo, first.base, first.max_turns, len(first.checks)) == (
        "fix it",
        "app",
        "HEAD",
        5,
        1,
    )
    assert (second.prompt, second.max_turns, second.base) == ("other", 9, "HEAD")
    # an explicit empty list is kept, not replaced by the default
    assert (third.base, third.checks) == (
        "worktree",
        [],
    )


def test_an_entry_naming_its_repo_replaces_the_default_repo_and_allowed_dirs():
    defaults = StartArgs(prompt="p", repo="app", allowed_dirs=["app", "lib"])
    assert merge(defaults, JobEntry(allowed_dirs=["lib"])).model_dump(include={"repo", "allowed_dirs"}) == {
        "repo": None,
        "allowed_dirs": ["lib"],
    }
    assert merge(defaults, JobEntry(repo="lib")).model_dump(include={"repo", "allowed_dirs"}) == {
        "repo": "lib",
        "allowed_dirs": None,
    }


def test_matrix_is_one_job_per_prompt_over_the_same_arguments():
    entries = expand(StartRequest(repo="app", queue="gpu", matrix=["one", "two"]), limit=8)
    assert [(label, args.prompt, args.repo, args.queue) for label, args in entries] == [
        ("matrix[0]", "one", "app", "gpu"),
        ("matrix[1]", "two", "app", "gpu"),
    ]


@pytest.mark.parametrize(
    ("jobs", "matrix", "defaults", "message"),
    [
        ([JobEntry()], ["p"], {}, "give jobs or matrix, not both"),
        ([], None, {}, "jobs is empty"),
        (None, [], {"repo": "app"}, "matrix is empty"),
        ([JobEntry(prompt="p")] * 4, None, {}, "jobs has 4 entries, more than FARM_FANOUT_MAX (3)"),
        (None, ["a", "b", "c", "d"], {"repo": "app"}, "matrix has 4 entries, more than FARM_FANOUT_MAX (3)"),
        (
            None,
            ["a"],
            {"prompt": "p", "repo": "app"},
            "matrix gives the prompts: leave out the top-level prompt",
        ),
    ],
    ids=["both", "empty_jobs", "empty_matrix", "too_many_jobs", "too_many_prompts", "matrix_and_prompt"],
)
def test_malformed_fanouts_are_invalid_arguments(jobs, matrix, defaults, message):
    with pytest.raises(InvalidArgument) as caught:
        expand(StartRequest(**defaults, jobs=jobs, matrix=matrix), limit=3)
    assert caught.value.message == message


# --- the service: all or nothing, one snapshot per repo ---


@pytest.fixture
def farm(tmp_path, redis_server, monkeypatch) -> Recording:
    return recording_service(
        tmp_path,
        redis_server.url,
        monkeypatch,
        queue="fq",
        fanout_max=6,
        wait_default_ms=5_000,
        wait_max_ms=20_000,
    )


def snapshot_refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", SNAPSHOT_REF_PREFIX)
    return dict(line.split() for line in out.splitlines())


async def test_matrix_shares_one_snapshot_and_pins_it_for_every_job(farm, make_repo):
    repo = make_repo(parent=farm.sandbox)
    (repo / "README.md").write_text("# sample\nuncommitted\n")

    result = await farm.service.start_fanout(StartRequest(repo=str(repo), matrix=["one", "two", "three"]))

    dumped = result.model_dump(mode="json")
    assert list(dumped) == ["jobs"] and [j["job_status"] for j in dumped["jobs"]] == ["queued"] * 3
    assert [spec.job_id for spec in farm.sent] == [j["job_id"] for j in dumped["jobs"]]
    assert [spec.prompt for spec in farm.sent] == ["one", "two", "three"]
    assert {spec.queue for spec in farm.sent} == {"fq"}
    [commit] = {spec.snapshot_commit for spec in farm.sent}  # one snapshot, shared
    # each job keeps it alive
    assert snapshot_refs(repo) == {SNAPSHOT_REF_PREFIX + spec.job_id: commit for spec in farm.sent}
    assert farm.recorded() == 3


async def test_jobs_over_two_repos_snapshot_each_once(farm, make_repo):
    first, second = make_repo(parent=farm.sandbox), make_repo({"other.txt": "x\n"}, parent=farm.sandbox)
    jobs = [JobEntry(), JobEntry(repo=str(second)), JobEntry(prompt="special", base="HEAD")]

    result = await farm.service.start_fanout(StartRequest(prompt="shared", repo=str(first), jobs=jobs))

    assert len(result.jobs) == 3
    specs = farm.sent
    assert [s.prompt for s in specs] == ["shared", "shared", "special"]
    assert [s.source.location for s in specs] == [str(first), str(second), str(first)]
    assert specs[0].snapshot_commit != specs[1].snapshot_commit
    assert specs[2].snapshot_commit == git(first, "rev-parse", "HEAD").strip()
    assert len(snapshot_refs(first)) == 2 and len(snapshot_refs(second)) == 1


@pytest.mark.parametrize(
    ("entry", "error", "message"),
    [
        (JobEntry(prompt="   "), InvalidArgument, "jobs[1]: prompt is empty"),
        (JobEntry(repo="/"), RepoOutsideSandbox, "jobs[1]: repo '/' resolves outside SANDBOX_ROOT"),
        (JobEntry(timeout_ms=10), InvalidArgument, "jobs[1]: timeout_ms must be between 1000"),
        (
            JobEntry(checks=[CheckSpec(name="a", command="x"), CheckSpec(name="a", command="y")]),
            InvalidArgument,
            "jobs[1]: check names must be unique",
        ),
        (JobEntry(permission_mode="yolo"), InvalidArgument, "jobs[1]: permission_mode must be one of"),
        (
            JobEntry(base="no-such-branch"),
            SnapshotFailed,
            "jobs[1]: could not take the 'no-such-branch' snapshot",
        ),
    ],
    ids=["blank_prompt", "outside", "timeout", "duplicate_checks", "permission", "bad_base"],
)
async def test_one_bad_entry_enqueues_nothing(farm, make_repo, entry, error, message):
    repo = make_repo(parent=farm.sandbox)
    jobs = [JobEntry(), entry, JobEntry(prompt="third")]

    with pytest.raises(error) as caught:
        await farm.service.start_fanout(StartRequest(prompt="p", repo=str(repo), jobs=jobs))

    assert caught.value.message.startswith(message), caught.value.message
    assert farm.sent == [] and farm.recorded() == 0
    assert snapshot_refs(repo) == {}  # the snapshot taken for jobs[0] is dropped again


async def test_a_broker_failure_midway_cancels_the_jobs_already_queued(farm, make_repo, monkeypatch):
    repo = make_repo(parent=farm.sandbox)

    def flaky(spec):
        if farm.sent:
            raise ConnectionError("broker gone")
        farm.sent.append(spec)

    monkeypatch.setattr(service_module, "send_job", flaky)
    with pytest.raises(Exception) as caught:
        await farm.service.start_fanout(StartRequest(repo=str(repo), matrix=["one", "two", "three"]))

    assert caught.value.code == "broker_unavailable"
    statuses = [farm.service.store.get(job_id).status for job_id in farm.service.store.list_ids(10)]
    # the first cancelled, the second failed to enqueue
    assert sorted(statuses) == [
        JobStatus.cancelled,
        JobStatus.failed,
    ]


# --- wait over several jobs ---


def finish(farm: Recording, job_id: str, status: JobStatus = JobStatus.completed) -> None:
    farm.service.store.finish(
        job_id, status, CompactResult(job_id=job_id, job_status=status, changed_files=["a.py"])
    )


async def queued_jobs(farm: Recording, make_repo, count: int) -> list[str]:
    repo = make_repo(parent=farm.sandbox)
    matrix = [f"job {n}" for n in range(count)]
    result = await farm.service.start_fanout(StartRequest(repo=str(repo), matrix=matrix))
    return [job.job_id for job in result.jobs]


async def test_wait_any_returns_when_the_first_job_ends(farm, make_repo):
    ids = await queued_jobs(farm, make_repo, 3)
    reports = []

    async def report(progress, message):
        reports.append((progress, message))

    async def finish_one_later():
        await anyio.sleep(0.5)
        finish(farm, ids[1])

    began = time.monotonic()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(finish_one_later)
        result = await farm.service.wait_many(ids, "any", 15_000, progress=report)
    elapsed = time.monotonic() - began

    assert 0.4 < elapsed < 5, elapsed  # woken by the status channel, long before the timeout
    dumped = result.model_dump(mode="json")
    assert (dumped["mode"], dumped["done"]) == ("any", True)
    assert dumped["jobs"][0] == {"job_id": ids[0], "job_status": "queued"}
    assert dumped["jobs"][1]["job_status"] == "completed" and dumped["jobs"][1]["changed_files"] == ["a.py"]
    assert dumped["jobs"][2] == {"job_id": ids[2], "job_status": "queued"}
    assert reports == [(0, "0 of 3 jobs ended"), (1, "1 of 3 jobs ended")]


async def test_wait_all_waits_for_every_job_and_times_out_otherwise(farm, make_repo):
    ids = await queued_jobs(farm, make_repo, 3)
    finish(farm, ids[0])

    partial = await farm.service.wait_many(ids, "all", 300)
    assert (partial.done, [j.job_status for j in partial.jobs]) == (
        False,
        [JobStatus.completed, JobStatus.queued, JobStatus.queued],
    )

    async def finish_rest():
        await anyio.sleep(0.3)
        finish(farm, ids[1], JobStatus.failed)
        await anyio.sleep(0.3)
        farm.service.cancel(ids[2])

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(finish_rest)
        result = await farm.service.wait_many([*ids, ids[0]], "all", 15_000)

    assert result.done and [j.job_status for j in result.jobs] == [
        JobStatus.completed,
        JobStatus.failed,
        JobStatus.cancelled,
    ]


@pytest.mark.parametrize(
    ("job_ids", "timeout_ms", "message"),
    [
        ([], None, "job_ids is empty"),
        (["j"] * 3 + [f"j{n}" for n in range(7)], None, "job_ids has 8 jobs, more than FARM_FANOUT_MAX (6)"),
        (["j"], 10**9, "timeout_ms must be between 0 and WAIT_MAX_MS (20000)"),
    ],
)
async def test_wait_many_refuses_bad_arguments(farm, job_ids, timeout_ms, message):
    with pytest.raises(InvalidArgument) as caught:
        await farm.service.wait_many(job_ids, "any", timeout_ms)
    assert caught.value.message == message


async def test_wait_many_names_an_unknown_job(farm, make_repo):
    ids = await queued_jobs(farm, make_repo, 1)
    with pytest.raises(UnknownJob):
        await farm.service.wait_many([ids[0], "0" * 32], "any", 100)


# --- the tools: shapes and argument errors through MCP ---


async def call(farm: Recording, tool: str, arguments: dict):
    async with Client(build_server(farm.service)) as client:
        return await client.call_tool(tool, arguments)


async def test_start_keeps_the_single_job_shape_and_gives_jobs_for_a_fanout(farm, make_repo):
    repo = make_repo(parent=farm.sandbox)
    single = await call(farm, "start", {"prompt": "p", "repo": str(repo)})
    fanout = await call(
        farm, "start", {"repo": str(repo), "jobs": [{"prompt": "a"}, {"prompt": "b", "max_turns": 3}]}
    )

    assert not single.is_error and set(single.structured_content) == {"job_id", "job_status", "queue"}
    assert not fanout.is_error and list(fanout.structured_content) == ["jobs"]
    assert [set(j) for j in fanout.structured_content["jobs"]] == [{"job_id", "job_status", "queue"}] * 2
    assert farm.sent[-1].max_turns == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "prompt: Field required"),
        ({"jobs": []}, "jobs is empty"),
        (
            {"jobs": [{"prompt": "a"}, {"prompt": "b", "colour": "red"}]},
            f"jobs.1.colour: unknown argument (valid: {', '.join(JobEntry.model_fields)})",
        ),
        (
            {"jobs": [{"prompt": "a"}, {"max_turns": 0}]},
            "jobs.1.max_turns: Input should be greater than or equal to 1",
        ),
        ({"repo": "app", "jobs": [{}, {"prompt": "a"}]}, "jobs[0]: prompt is empty"),
        ({"jobs": [{"prompt": "p"}] * 7}, "jobs has 7 entries, more than FARM_FANOUT_MAX (6)"),
        ({"matrix": ["a", "b"]}, "matrix[0]: give repo (or allowed_dirs with the repo first)"),
    ],
    ids=["nothing", "empty_jobs", "extra_field", "bound", "no_prompt", "too_many", "matrix_without_repo"],
)
async def test_bad_fanouts_are_structured_errors_and_enqueue_nothing(farm, arguments, message):
    result = await call(farm, "start", arguments)
    assert result.is_error
    error = result.structured_content["error"]
    assert (error["code"], error["message"]) == ("invalid_argument", message)
    assert farm.sent == [] and farm.recorded() == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "job_id: Field required"),
        ({"job_id": "a", "job_ids": ["b"]}, "give job_id or job_ids, not both"),
        ({"job_ids": ["a"], "mode": "some"}, None),
    ],
)
async def test_wait_arguments(farm, arguments, message):
    result = await call(farm, "wait", arguments)
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == "invalid_argument"
    assert message is None or error["message"] == message


async def test_wait_tool_returns_mode_done_and_jobs(farm, make_repo):
    ids = await queued_jobs(farm, make_repo, 2)
    finish(farm, ids[0])
    result = await call(farm, "wait", {"job_ids": ids, "mode": "any", "timeout_ms": 5000})
    single = await call(farm, "wait", {"job_id": ids[0], "timeout_ms": 0})

    assert not result.is_error
    assert list(result.structured_content) == ["mode", "done", "jobs"]
    assert result.structured_content["jobs"][1] == {"job_id": ids[1], "job_status": "queued"}
    assert single.structured_content["job_id"] == ids[0] and "jobs" not in single.structured_content
