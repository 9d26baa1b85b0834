"""deploy/systemd's sandbox drop-in: turns the bwrap sandbox on, required, with the unit's hardening made
compatible."""

import re
import shutil
import subprocess

import pytest

from tests.deploy.test_systemd import PARSED, UNITS, WORKER, environment, one, parse_unit

DROP_IN = UNITS / f"{WORKER}.d" / "sandbox.conf"


def test_the_drop_in_requires_the_bwrap_sandbox():
    assert environment(parse_unit(DROP_IN)) == {"WORKER_SANDBOX": "bwrap", "WORKER_SANDBOX_REQUIRED": "1"}


def test_the_drop_in_uncovers_proc_and_forbids_no_namespace():
    drop_in, unit = parse_unit(DROP_IN), PARSED[WORKER]
    # bwrap's fresh /proc in a user namespace needs the outer /proc uncovered (verified with bwrap 0.8).
    assert one(drop_in, "ProtectKernelTunables") == "no" and one(drop_in, "ProtectKernelLogs") == "no"
    for merged in (drop_in, unit):
        assert not [
            v
            for k, v in merged["Service"]
            if k in ("RestrictNamespaces", "ProtectProc", "ProcSubset", "PrivateUsers")
        ]
    assert one(unit, "NoNewPrivileges") == "yes"  # fine: Debian's bwrap is not setuid


def test_systemd_analyze_accepts_the_unit_with_the_drop_in(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    instance = tmp_path / WORKER.replace("@.", "@default.")
    instance.write_text(
        re.sub(r"^ExecStart=.*$", "ExecStart=/bin/true", (UNITS / WORKER).read_text(), flags=re.MULTILINE)
    )
    (tmp_path / f"{instance.name}.d").mkdir()
    shutil.copy(DROP_IN, tmp_path / f"{instance.name}.d" / DROP_IN.name)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(instance)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "sandbox.conf" not in output, output
