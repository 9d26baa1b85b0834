"""The README's tables stay true to the code: every setting and every tool is documented."""

import re
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from adapter.settings import AdapterSettings
from codex_farm.settings import FlowerSettings, LocalFarmSettings, StatsSettings
from mcp_frontend.settings import FrontendSettings
from tasks.settings import FarmSettings

README = (Path(__file__).parent.parent / "README.md").read_text()


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variable names a settings class reads (first alias of each field)."""
    names = set()
    for field in settings.model_fields.values():
        alias = field.validation_alias
        names.add(alias.choices[0] if isinstance(alias, AliasChoices) else alias)
    return names


def all_settings() -> set[str]:
    return env_names(AdapterSettings) | env_names(FarmSettings) | env_names(FrontendSettings) | env_names(LocalFarmSettings) | env_names(StatsSettings) | env_names(FlowerSettings)


def documented_settings() -> set[str]:
    return set(re.findall(r"^\| `([A-Z0-9_]+)`", README, flags=re.MULTILINE))


def test_every_setting_is_in_the_readme_table():
    in_code = all_settings()
    assert in_code - documented_settings() == set()


def test_the_readme_documents_no_setting_the_code_does_not_read():
    in_code = all_settings()
    assert documented_settings() - in_code == set()


async def test_every_tool_is_in_the_readme_tool_table():
    from mcp_frontend.server import build_server

    tools = {tool.name for tool in await build_server(service=None).list_tools()}
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (?!`)", README, flags=re.MULTILINE))
    assert tools == documented
