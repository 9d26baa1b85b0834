"""Paths of the deploy files and small parsers shared by the deploy structure tests."""

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS_DOC = ROOT / "docs" / "settings.md"

PLACEHOLDER = "CHANGE_ME"
# Variable names whose values are credentials.
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|_KEY$|SECRET|AUTH$")
# A variable outside the settings doc's tables must say in its comment who reads it.
OTHER_READER = re.compile(r"\b(?:Redis|Flower|compose|systemd)-only\b")
_ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True)
class EnvEntry:
    """One `NAME=value` line of an env example; `commented` when it shows a default."""

    name: str
    value: str
    commented: bool
    comment: str  # the comment block right above it


def env_entries(path: Path) -> list[EnvEntry]:
    """The assignments of an env example, each with the comment block above it (shared by a run of
    assignments that follow one another, like FARM_UID and FARM_GID)."""
    entries, block, after_assignment = [], [], False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        match = _ASSIGNMENT.match(line)
        if match:
            entries.append(
                EnvEntry(match["name"], match["value"], bool(match["commented"]), "\n".join(block))
            )
            after_assignment = True
            continue
        if line.startswith("#"):
            block = [line] if after_assignment else [*block, line]
        else:
            block = []
        after_assignment = False
    return entries


def env_values(path: Path) -> dict[str, str]:
    """The active (uncommented) assignments, with systemd's surrounding quotes removed."""
    return {e.name: unquote(e.value) for e in env_entries(path) if not e.commented}


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def documented_settings() -> set[str]:
    """Variable names of the settings doc's tables (as tests/test_docs.py reads them)."""
    return set(re.findall(r"^\| `([A-Z0-9_]+)`", SETTINGS_DOC.read_text(), flags=re.MULTILINE))
