"""check_worker_rules: what a worker refuses to run, whatever the enqueuer claimed."""

import pytest

from farm_core.job_models import JobSpec, RepoSource
from tasks.settings import WorkerSettings
from tasks.worker_rules import JobRejected, check_worker_rules

MAX_MS = 3_600_000


def spec(**changes) -> JobSpec:
    values = dict(
        job_id="j1",
        prompt="p",
        source=RepoSource(location="/repo", origin_host="h"),
        snapshot_commit="a" * 40,
        timeout_ms=60_000,
        created_at=1.0,
    )
    values.update(changes)
    return JobSpec(**values)


def settings(bypass: bool = False) -> WorkerSettings:
    return WorkerSettings(max_timeout_ms=MAX_MS, allow_bypass_permissions=bypass)


ACCEPTED = [
    ("defaults", {}, False),
    ("mode_default", {"permission_mode": "default"}, False),
    ("mode_plan", {"permission_mode": "plan"}, False),
    ("mode_accept_edits", {"permission_mode": "acceptEdits"}, False),
    ("bypass_when_allowed", {"permission_mode": "bypassPermissions"}, True),
    ("timeout_at_max", {"timeout_ms": MAX_MS}, False),
    ("sha256_commit", {"snapshot_commit": "b" * 64}, False),
]


@pytest.mark.parametrize(("changes", "bypass"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(changes, bypass):
    assert check_worker_rules(spec(**changes), settings(bypass)) is None


REJECTED = [
    ("unknown_mode", {"permission_mode": "yolo"}, False, "unknown permission mode 'yolo'"),
    ("mode_case_matters", {"permission_mode": "AcceptEdits"}, True, "unknown permission mode 'AcceptEdits'"),
    (
        "bypass_not_allowed",
        {"permission_mode": "bypassPermissions"},
        False,
        "bypassPermissions is not allowed on this worker (ALLOW_BYPASS_PERMISSIONS)",
    ),
    (
        "timeout_over_max",
        {"timeout_ms": MAX_MS + 1},
        True,
        f"timeout_ms {MAX_MS + 1} exceeds this worker's FARM_MAX_TIMEOUT_MS",
    ),
    ("empty_commit", {"snapshot_commit": ""}, False, "snapshot_commit must be a full commit id"),
    ("short_commit", {"snapshot_commit": "a" * 12}, False, "snapshot_commit must be a full commit id"),
    ("commit_39", {"snapshot_commit": "a" * 39}, False, "snapshot_commit must be a full commit id"),
    ("commit_41", {"snapshot_commit": "a" * 41}, False, "snapshot_commit must be a full commit id"),
    ("commit_63", {"snapshot_commit": "a" * 63}, False, "snapshot_commit must be a full commit id"),
]


@pytest.mark.parametrize(
    ("changes", "bypass", "message"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejected(changes, bypass, message):
    with pytest.raises(JobRejected) as caught:
        check_worker_rules(spec(**changes), settings(bypass))
    assert str(caught.value) == message


def test_permission_checked_before_timeout():
    with pytest.raises(JobRejected, match="bypassPermissions"):
        check_worker_rules(spec(permission_mode="bypassPermissions", timeout_ms=MAX_MS * 2), settings(False))


def test_allow_bypass_from_environment(monkeypatch):
    monkeypatch.setenv("ALLOW_BYPASS_PERMISSIONS", "1")
    monkeypatch.setenv("FARM_MAX_TIMEOUT_MS", str(MAX_MS))
    assert check_worker_rules(spec(permission_mode="bypassPermissions"), WorkerSettings()) is None
