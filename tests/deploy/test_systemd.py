"""deploy/systemd: the units run unprivileged, hardened, from the venv, and stop without leaving agents."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from farm_core.settings import FarmSettings
from tests.deploy.files import DEPLOY, env_entries

UNITS = DEPLOY / "systemd"
WORKER = "codex-farm-worker@.service"
ADAPTER = "codex-farm-adapter.service"
FLOWER = "codex-farm-flower.service"
VENV_BIN = "/opt/codex-farm/venv/bin/"
HARDENING = {
    "NoNewPrivileges": {"yes"},
    "PrivateTmp": {"yes"},
    "ProtectSystem": {"strict"},
    "ProtectHome": {"yes", "read-only"},
    "ProtectKernelTunables": {"yes"},
    "ProtectKernelModules": {"yes"},
    "ProtectControlGroups": {"yes"},
    "RestrictSUIDSGID": {"yes"},
    "LockPersonality": {"yes"},
    "RestrictRealtime": {"yes"},
    "SystemCallArchitectures": {"native"},
    "Restart": {"on-failure"},
    "KillMode": {"control-group"},
}
TIME_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) pairs in order; repeated keys kept (EnvironmentFile=, ExecStart=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), f"{path.name}: keep directives on one line"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"{path.name}: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict, key: str, section: str = "Service") -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: dict, key: str, section: str = "Service") -> str:
    found = values(unit, key, section)
    assert len(found) == 1, f"{key}: {found}"
    return found[0]


def environment(unit: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for line in values(unit, "Environment") for item in line.split())


def seconds(timespan: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", timespan):
        total += float(number) * TIME_UNITS[unit or "s"]
    return total


UNIT_FILES = sorted(path.name for path in UNITS.glob("*.service"))
PARSED = {name: parse_unit(UNITS / name) for name in UNIT_FILES}


def test_the_three_units():
    assert UNIT_FILES == [ADAPTER, FLOWER, WORKER]


@pytest.mark.parametrize("name", UNIT_FILES)
def test_hardening(name):
    unit = PARSED[name]
    for key, allowed in HARDENING.items():
        assert one(unit, key) in allowed, f"{name}: {key}"
    assert one(unit, "CapabilityBoundingSet") == "", f"{name}: no capabilities"


@pytest.mark.parametrize("name", UNIT_FILES)
def test_runs_unprivileged_from_the_venv_with_an_env_file(name):
    unit = PARSED[name]
    assert one(unit, "User") not in ("root", "0")
    assert values(unit, "EnvironmentFile"), name
    assert all(path.startswith("/etc/codex-farm/") for path in values(unit, "EnvironmentFile"))
    assert one(unit, "ExecStart").startswith(VENV_BIN)
    assert one(unit, "WantedBy", "Install") == "multi-user.target"


@pytest.mark.parametrize("name", UNIT_FILES)
def test_writes_only_where_it_must(name):
    unit = PARSED[name]
    writable = [Path(p.lstrip("-")) for line in values(unit, "ReadWritePaths") for p in line.split()]
    writable += [Path("/var/lib") / d for line in values(unit, "StateDirectory") for d in line.split()]
    for variable in ("WORKER_CACHE_DIR", "WORKER_METRICS_FILE"):
        if variable in environment(unit):
            path = Path(environment(unit)[variable])
            assert any(path == w or w in path.parents for w in writable), (
                f"{name}: {variable} is not writable"
            )
    if name == FLOWER:
        assert not writable


def test_worker_is_a_queue_template_that_drains_on_stop():
    unit = PARSED[WORKER]
    assert one(unit, "ExecStart") == f"{VENV_BIN}codex-farm worker --queues %i"
    assert one(unit, "User") == "codex-farm"
    assert values(unit, "EnvironmentFile") == ["/etc/codex-farm/farm.env"]
    assert environment(unit)["WORKER_CACHE_DIR"] in values(unit, "ReadWritePaths")
    assert environment(unit)["SHELL"] == "/bin/bash", "Claude Code needs a POSIX shell, not nologin"
    # A warm shutdown (SIGTERM) lets a job at the default timeout finish before the cgroup is killed.
    assert values(unit, "KillSignal") in ([], ["SIGTERM"])
    default_job_s = FarmSettings.model_fields["default_timeout_ms"].default / 1000
    assert seconds(one(unit, "TimeoutStopSec")) >= default_job_s


def test_adapter_has_its_own_user_and_env_file_and_listens_on_loopback():
    unit = PARSED[ADAPTER]
    # Agents run as the worker's user and could read a same-user process's environment.
    assert one(unit, "User") != one(PARSED[WORKER], "User")
    assert one(unit, "DynamicUser") == "yes"
    assert values(unit, "EnvironmentFile") == ["/etc/codex-farm/adapter.env"]
    assert one(unit, "ExecStart") == f"{VENV_BIN}codex-farm adapter --host 127.0.0.1 --port 8788"


def test_flower_listens_on_loopback_with_basic_auth_from_the_env_file():
    unit = PARSED[FLOWER]
    exec_start = one(unit, "ExecStart")
    assert exec_start.startswith(f"{VENV_BIN}codex-farm flower")
    assert "--allow-control" not in exec_start, "read-only"
    assert "--address=127.0.0.1" in exec_start.split()
    assert "--basic-auth" not in exec_start, "a password on the command line shows in ps"
    assert values(unit, "EnvironmentFile") == ["/etc/codex-farm/farm.env"]
    assert "FLOWER_BASIC_AUTH" in {
        e.name for e in env_entries(DEPLOY / "farm.env.example") if not e.commented
    }
    assert "FLOWER_UNAUTHENTICATED_API" not in (UNITS / FLOWER).read_text()


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    for name in UNIT_FILES:
        text = re.sub(
            r"^ExecStart=.*$", "ExecStart=/bin/true", (UNITS / name).read_text(), flags=re.MULTILINE
        )
        # A template is verified through an instance.
        (tmp_path / name.replace("@.", "@default.")).write_text(text)
        if "@." in name:
            (tmp_path / name).write_text(text)
    units = sorted(str(path) for path in tmp_path.glob("*.service") if "@." not in path.name)
    result = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # verify exits 0 on unknown keys and bad values; it only warns about them.
    ours = [line for line in output.splitlines() if "codex-farm" in line]
    assert not ours, "\n".join(ours)
