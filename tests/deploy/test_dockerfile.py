"""The Dockerfile: slim Python 3.11, git, the package without dev extras, a non-root user."""

import fnmatch
import json
import re
import tomllib

from tests.deploy.files import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
IGNORED = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#"))
    )
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def values(keyword: str) -> list[str]:
    return [rest for key, rest in instructions() if key == keyword]


def ignored(path: str) -> bool:
    return any(
        fnmatch.fnmatch(path, pattern.rstrip("/")) for pattern in IGNORED if not pattern.startswith("!")
    )


def test_base_image_is_python_311_slim():
    assert values("FROM") == ["python:3.11-slim"]


def test_apt_installs_git_and_ca_certificates_and_cleans_up():
    runs = " ".join(values("RUN"))
    install = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", runs)
    assert install and {"git", "ca-certificates"} <= set(install.group(1).split())
    assert "rm -rf /var/lib/apt/lists/*" in runs


def test_pip_installs_the_package_without_dev_extras():
    pip = [run for run in values("RUN") if "pip install" in run]
    assert pip and not any("[dev]" in run or "-e " in run for run in pip)


def test_runs_as_a_non_root_user_in_a_workdir_with_a_harmless_default_command():
    user = values("USER")[-1]
    assert user.split(":")[0] not in ("root", "0")
    assert values("WORKDIR")
    assert json.loads(values("CMD")[-1]) == ["codex-farm", "--help"]
    instructions_order = [key for key, _ in instructions()]
    assert instructions_order.index("USER") > max(
        i for i, key in enumerate(instructions_order) if key == "RUN"
    )


def test_entrypoint_forwards_signals_and_reaps_orphans():
    assert json.loads(values("ENTRYPOINT")[-1])[0].endswith("tini")


def test_the_build_context_keeps_what_pip_needs_and_drops_secrets():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = ["pyproject.toml", project["project"]["readme"]]
    needed += [
        pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not ignored(path), f"{path} is excluded from the build context"
    for path in (".env", ".git", "farm.env"):
        assert ignored(path), f"{path} must not reach the image"
