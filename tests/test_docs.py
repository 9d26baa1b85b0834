"""The docs stay true to the code: every setting, tool and error code is documented, and the README stays
short."""

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from adapter.settings import AdapterSettings
from codex_farm.settings import FlowerSettings, LocalFarmSettings, StatsSettings
from farm_core.settings import FarmSettings
from mcp_frontend.errors import ToolCallError
from mcp_frontend.server import build_server
from mcp_frontend.settings import FrontendSettings
from tasks.settings import WorkerSettings

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()
TOOLS_DOC = (ROOT / "docs" / "tools.md").read_text()
DOCS = [
    ROOT / "README.md",
    ROOT / "SECURITY.md",
    ROOT / "deploy" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
SETTINGS_CLASSES = (
    AdapterSettings,
    FarmSettings,
    WorkerSettings,
    FrontendSettings,
    LocalFarmSettings,
    StatsSettings,
    FlowerSettings,
)
# The settings doc's sections of the farm's processes (its headings).
SHARED_SECTION = "Shared by the frontend and the workers"
FRONTEND_SECTION, WORKER_SECTION = "Frontend", "Worker"
# A newcomer's first screen: what it is, set-up, and the first job from Codex.
FIRST_SCREEN_LINES = 60
FIRST_JOB_HEADING = "## Your first job from Codex"
MAX_CELL_CHARS = 300


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variable names a settings class reads (first alias of each field)."""
    names = set()
    for field in settings.model_fields.values():
        alias = field.validation_alias
        names.add(alias.choices[0] if isinstance(alias, AliasChoices) else alias)
    return names


def all_settings() -> set[str]:
    return set().union(*(env_names(cls) for cls in SETTINGS_CLASSES))


def table_names(text: str) -> set[str]:
    """The `NAME` in the first column of every table row."""
    return set(re.findall(r"^\| `([A-Z0-9_]+)`", text, flags=re.MULTILINE))


def section_names(heading: str) -> set[str]:
    """The settings in the tables of the settings doc's `## heading` section."""
    return table_names(SETTINGS_DOC.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0])


def error_codes() -> set[str]:
    """Every stable code of the ToolCallError hierarchy, the catch-all included."""
    codes, pending = set(), [ToolCallError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes


def table_cells(text: str) -> list[str]:
    cells = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells += [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
    return cells


def test_every_setting_the_code_reads_is_in_the_settings_doc():
    assert all_settings() - table_names(SETTINGS_DOC) == set()


def test_the_settings_doc_and_the_readme_name_no_setting_the_code_does_not_read():
    assert table_names(SETTINGS_DOC) - all_settings() == set()
    assert table_names(README) - all_settings() == set()


def test_the_settings_doc_lists_each_farm_setting_under_the_process_that_reads_it():
    """Shared lists FarmSettings only; Worker every setting WorkerSettings adds, and shared ones only workers
    act on; Frontend likewise for FrontendSettings. Every FarmSettings setting is in one of the three."""
    sections = (SHARED_SECTION, FRONTEND_SECTION, WORKER_SECTION)
    shared, frontend, worker = (section_names(heading) for heading in sections)
    farm = env_names(FarmSettings)
    assert shared - farm == set()
    assert env_names(WorkerSettings) - farm - worker == set()
    assert worker - env_names(WorkerSettings) == set()
    assert env_names(FrontendSettings) - farm - frontend == set()
    assert frontend - env_names(FrontendSettings) - farm == set()
    assert farm - shared - frontend - worker == set()


async def test_every_tool_has_a_readme_line_and_a_section_in_the_tools_doc():
    tools = {tool.name for tool in await build_server(service=None).list_tools()}
    tools_section = README.split("## Tools", 1)[1].split("\n## ", 1)[0]
    in_readme = set(re.findall(r"^\| `([a-z_]+)` \| ", tools_section, flags=re.MULTILINE))
    sections = set(re.findall(r"^### `([a-z_]+)`$", TOOLS_DOC, flags=re.MULTILINE))
    assert in_readme == tools
    assert sections == tools


def test_every_error_code_is_in_the_tools_doc_and_no_other():
    documented = set(
        re.findall(r"^\| `([a-z_]+)` \|", TOOLS_DOC.split("## Errors", 1)[1], flags=re.MULTILINE)
    )
    assert documented == error_codes()


def test_the_readme_gets_a_newcomer_to_a_first_job_within_one_screen():
    lines = README.splitlines()
    start = lines.index(FIRST_JOB_HEADING)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    assert end <= FIRST_SCREEN_LINES, f"the first-job section ends on line {end}"
    first_job = "\n".join(lines[start:end])
    assert "[mcp_servers.codex-farm]" in first_job and '"verdict"' in first_job


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_table_cell_is_a_wall(doc: Path):
    long_cells = [cell[:60] for cell in table_cells(doc.read_text()) if len(cell) > MAX_CELL_CHARS]
    assert long_cells == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_lead_to_files_that_exist(doc: Path):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text())
    missing = [t for t in targets if "://" not in t and not (doc.parent / t).exists()]
    assert missing == []
