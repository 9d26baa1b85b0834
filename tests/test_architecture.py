"""The packages' import direction (docs/architecture.md, "Packages"): `farm_core` is the contract and imports
none of the others; `mcp_frontend` and `tasks` use it and never each other; `adapter` takes only what is
genuinely shared; the benchmarks and the tests use the product, never each other; no first-party import hides
inside a function (the way an import loop is dodged, or a start-up cost nobody measured)."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("farm_core", "adapter", "tasks", "mcp_frontend", "scripted_gateway", "codex_farm")
PACKAGES = (*PRODUCT, "farm_load", "bench", "tests")
# Which packages each one may import (besides itself); `codex_farm`, the command, wires them all together.
MAY_IMPORT = {
    "farm_core": set(),
    "adapter": {"farm_core"},
    "tasks": {"farm_core"},
    "mcp_frontend": {"farm_core"},
    "scripted_gateway": set(),
    "codex_farm": {"farm_core", "adapter", "tasks", "mcp_frontend", "scripted_gateway"},
    # The load run the load benchmark and the load test share: it reads the contract and the scripted model.
    "farm_load": {"farm_core", "scripted_gateway"},
    # Benchmarks and tests use the product and that load run, never each other.
    "bench": {*PRODUCT, "farm_load"},
    "tests": {*PRODUCT, "farm_load"},
}
# What the adapter shares with the farm: redaction, the per-job tokens it checks, keeping its key out of
# reach.
ADAPTER_SHARES = {"farm_core.redaction", "farm_core.job_tokens", "farm_core.key_guard"}
# Where a first-party import inside a function would dodge a loop between the modules, or hide what they cost.
NO_IMPORT_IN_FUNCTIONS = ("farm_core", "adapter", "tasks", "mcp_frontend", "codex_farm", "farm_load", "bench")
# The exceptions, each for what importing at the top would change (every module, or the modules named):
# - the command loads only the subcommand it runs: with all of them at the top `codex-farm --help` takes
#   1.8 s instead of 0.05 s, and every subcommand, the adapter's too, would load the farm's Celery app;
# - that app is configured when farm_core.queue is imported (the farm's settings read and validated, the
#   process stopped on unusable signing files), so doctor and flower load it after the checks that must
#   report those problems themselves;
# - tasks.agent_env brings claude-agent-sdk (0.6 s; `codex-farm up` imports doctor), and doctor reports
#   one that cannot be imported as a failed check.
LOADED_WHEN_USED: dict[Path, set[str] | None] = {
    Path("codex_farm/cli.py"): None,
    Path("codex_farm/doctor.py"): {"farm_core.queue", "tasks.agent_env"},
    Path("codex_farm/flower.py"): {"farm_core.queue"},
}


def imports_of(package: str) -> list[tuple[Path, int, str, bool]]:
    """Every absolute import in package's modules: (file, line, module, inside a function)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        in_functions = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            found += [
                (path.relative_to(ROOT), node.lineno, module, id(node) in in_functions) for module in modules
            ]
    return found


def first_party(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in PACKAGES else None


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_go_one_way(package):
    wrong = [
        f"{path}:{line} imports {module}"
        for path, line, module, _ in imports_of(package)
        if first_party(module) not in (None, package, *MAY_IMPORT[package])
    ]
    assert wrong == []


def test_the_adapter_takes_only_what_is_shared():
    taken = {module for _, _, module, _ in imports_of("adapter") if first_party(module) == "farm_core"}
    assert taken <= ADAPTER_SHARES, taken - ADAPTER_SHARES


def loaded_when_used(path: Path, module: str) -> bool:
    """Whether path may import module inside a function (LOADED_WHEN_USED)."""
    if path not in LOADED_WHEN_USED:
        return False
    modules = LOADED_WHEN_USED[path]
    return modules is None or module in modules


@pytest.mark.parametrize("package", NO_IMPORT_IN_FUNCTIONS)
def test_no_first_party_import_hides_in_a_function(package):
    hidden = [
        f"{path}:{line} imports {module}"
        for path, line, module, inner in imports_of(package)
        if inner and first_party(module) and not loaded_when_used(path, module)
    ]
    assert hidden == []


def test_the_checker_sees_a_wrong_import(tmp_path, monkeypatch):
    """The rule can fail: a module of `tasks` that imports the frontend, inside a function, is caught
    twice."""
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "bad.py").write_text("def f():\n    from mcp_frontend.server import build_server\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = imports_of("tasks")
    assert found == [(Path("tasks/bad.py"), 2, "mcp_frontend.server", True)]
    assert first_party("mcp_frontend.server") not in (None, "tasks", *MAY_IMPORT["tasks"])
