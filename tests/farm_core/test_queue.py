"""What `send_job` hands Celery: the whole spec as the argument, and a short preview for Flower."""

import pytest

from farm_core import queue
from farm_core.job_models import SHELL_CHECK, CheckSpec, JobSpec, RepoSource


def job(**fields) -> JobSpec:
    return JobSpec(
        **{"prompt": "fix it", **fields},
        job_id="j1",
        source=RepoSource(location="/repos/app", origin_host="laptop"),
        snapshot_commit="a" * 40,
        queue="gpu",
        timeout_ms=60_000,
        created_at=1.0,
    )


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    monkeypatch.setattr(queue.app, "send_task", lambda name, **kwargs: calls.append({"name": name, **kwargs}))
    return calls


def test_an_agent_job_shows_its_prompt_with_home_folders_shortened(sent):
    queue.send_job(job(prompt="fix /home/alice/app/main.py\nplease"))

    (call,) = sent
    assert call["queue"] == "gpu" and call["task_id"] == "j1" and call["args"][0]["job_id"] == "j1"
    assert call["argsrepr"] == "job=j1 queue=gpu attempt=1 prompt='fix ~/app/main.py please'"


def test_a_shell_job_shows_its_command_and_a_retry_its_attempt(sent):
    spec = job(
        prompt="shell: run the tests",
        kind="shell",
        checks=[CheckSpec(name=SHELL_CHECK, command="pytest -q tests")],
    )
    queue.send_job(spec, attempt=2)

    (call,) = sent
    assert call["task_id"] == "j1-2"
    assert call["argsrepr"] == "job=j1 queue=gpu attempt=2 command='pytest -q tests'"
