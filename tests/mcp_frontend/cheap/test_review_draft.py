"""review and draft: one cheap call each over a job's diff or the caller's files/changes, through the real
adapter."""

import pytest
from mcp import Client

from farm_core.job_models import JobStatus
from mcp_frontend.server import build_server
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.cheap.support import make_job, sandbox, service, tree_bytes  # noqa: F401

PATCH = (
    b"diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n def "
    b"greet():\n"
    b"-    return 'hello'\n+    return 'hello farm'\n"
)
REVIEW_JSON = (
    'Here is my review:\n```json\n{"verdict": "repair", "findings": [{"file": "src/app.py", "line": "2", '
    '"severity": "High", "message": "the greeting changed but the test still expects hello"}]}\n```\nHope it '
    "helps."
)


@pytest.fixture
def repo(make_repo, sandbox):  # noqa: F811
    return make_repo({"src/app.py": "def greet():\n    return 'hello'\n"}, name="app", parent=sandbox)


async def test_review_of_a_job_parses_a_fenced_json_answer(service, scripted_gateway):  # noqa: F811
    scripted_gateway.add_scenario({"name": "cheap-review", "turns": [{"text": REVIEW_JSON}]})
    job_id = make_job(
        service,
        prompt="Greet the farm [[scenario:cheap-review]]",
        patch=PATCH,
        checks={"tests": "failed"},
        changed=["src/app.py"],
    )

    async with Client(build_server(service)) as client:
        result = await call_ok(client, "review", {"job_id": job_id, "focus": "tests"})

    assert (
        result["verdict"] == "repair"
        and result["reviewed"] == f"job {job_id}"
        and result["checks"] == ["tests: failed"]
    )
    assert result["findings"] == [
        {
            "file": "src/app.py",
            "line": 2,
            "severity": "error",
            "message": "the greeting changed but the test still expects hello",
        }
    ]
    (request,) = scripted_gateway.requests()
    sent = str(request["body"]["messages"])
    assert "hello farm" in sent and "tests: failed" in sent and "Focus of this review: tests" in sent


async def test_review_of_files_accepts_bare_json(service, repo, scripted_gateway):  # noqa: F811
    scripted_gateway.add_scenario(
        {"name": "cheap-accept", "turns": [{"text": '{"verdict": "accept", "findings": []}'}]}
    )
    before = tree_bytes(repo)
    async with Client(build_server(service)) as client:
        result = await call_ok(
            client, "review", {"files": ["src/app.py"], "repo": "app", "focus": "[[scenario:cheap-accept]]"}
        )
    assert result["verdict"] == "accept" and result["findings"] == [] and result["reviewed"] == "src/app.py"
    assert len(scripted_gateway.requests()) == 1
    # line-numbered
    assert "    2     return 'hello'" in str(scripted_gateway.requests()[0]["body"]["messages"])
    assert tree_bytes(repo) == before


async def test_review_that_is_not_json_is_model_output_invalid(service, scripted_gateway):  # noqa: F811
    scripted_gateway.add_scenario(
        {"name": "cheap-prose", "turns": [{"text": "Looks fine to me, ship it {maybe}."}]}
    )
    job_id = make_job(service, prompt="[[scenario:cheap-prose]]", patch=PATCH, changed=["src/app.py"])
    async with Client(build_server(service)) as client:
        error = await call_error(client, "review", {"job_id": job_id})
    assert error["code"] == "model_output_invalid" and "Looks fine to me, ship it" in error["message"]
    assert len(scripted_gateway.requests()) == 1


async def test_review_refuses_bad_input(service, repo, scripted_gateway):  # noqa: F811
    running = make_job(service, patch=PATCH, status=JobStatus.running)
    empty = make_job(service)
    cases = [
        ({"job_id": "no-such-job"}, "unknown_job"),
        ({}, "invalid_argument"),
        ({"job_id": running, "files": ["src/app.py"]}, "invalid_argument"),
        ({"job_id": running}, "job_not_finished"),
        ({"job_id": empty}, "invalid_argument"),
        ({"files": ["../../x.py"], "repo": "app"}, "path_outside_sandbox"),
        ({"job_id": empty, "focus": "f" * 2001}, "invalid_argument"),
    ]
    async with Client(build_server(service)) as client:
        for arguments, code in cases:
            assert (await call_error(client, "review", arguments))["code"] == code, arguments
    assert scripted_gateway.requests() == []


# noqa: F811
async def test_draft_from_a_repo_reads_changes_and_untracked_files_without_touching_it(
    service, repo, scripted_gateway
):
    scripted_gateway.add_scenario(
        {"name": "cheap-draft", "turns": [{"text": "Greet the farm\n\nChange the greeting."}]}
    )
    (repo / "src/app.py").write_text("def greet():\n    return 'hello farm'\n")
    (repo / "src/new.py").write_text("VALUE = 1\n")
    before = tree_bytes(repo)

    async with Client(build_server(service)) as client:
        result = await call_ok(
            client, "draft", {"kind": "commit", "repo": "app", "instructions": "[[scenario:cheap-draft]]"}
        )

    assert result == {
        "kind": "commit",
        "text": "Greet the farm\n\nChange the greeting.",
        "source": "repo app",
        "truncated": [],
        "usage": result["usage"],
    }
    (request,) = scripted_gateway.requests()
    sent = str(request["body"]["messages"])
    assert "+    return 'hello farm'" in sent and "+VALUE = 1" in sent and "commit message" in sent
    assert tree_bytes(repo) == before  # .git/index included: no refresh, no lock


async def test_draft_from_a_job_patch(service, scripted_gateway):  # noqa: F811
    scripted_gateway.add_scenario(
        {"name": "cheap-pr", "turns": [{"text": "# Greet the farm\n\n## Summary\nNew greeting."}]}
    )
    job_id = make_job(
        service, prompt="[[scenario:cheap-pr]] greet the farm", patch=PATCH, changed=["src/app.py"]
    )
    async with Client(build_server(service)) as client:
        result = await call_ok(client, "draft", {"kind": "pr", "job_id": job_id})
    assert result["text"].startswith("# Greet the farm") and result["source"] == f"job {job_id}"
    (request,) = scripted_gateway.requests()
    assert "pull request description" in str(request["body"]["messages"])


async def test_draft_refuses_bad_input(service, repo, sandbox, make_repo, scripted_gateway):  # noqa: F811
    outside = make_repo(name="outside")
    cases = [
        ({"kind": "commit", "job_id": "no-such-job"}, "unknown_job"),
        ({"kind": "commit", "repo": str(outside)}, "repo_outside_sandbox"),
        ({"kind": "poem", "repo": "app"}, "invalid_argument"),
        ({"kind": "commit"}, "invalid_argument"),
        ({"kind": "commit", "repo": "app"}, "invalid_argument"),  # nothing changed
        ({"kind": "commit", "repo": "app", "instructions": "i" * 2001}, "invalid_argument"),
    ]
    async with Client(build_server(service)) as client:
        for arguments, code in cases:
            assert (await call_error(client, "draft", arguments))["code"] == code, arguments
    assert scripted_gateway.requests() == []
